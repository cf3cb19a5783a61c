"""The Dockerfile: hadolint-clean, its install reproduced and run, and its contract checked.

No Docker engine runs here, so the image is not built. Instead the builder
stage is reproduced: the files its COPY lines take (as .dockerignore lets them
into the context) go to a temporary directory, a fresh venv gets exactly the
``pip install`` command read from the Dockerfile, and that venv's ``sentinel
run`` must turn healthy by ``sentinel healthcheck`` and exit 0 on SIGTERM.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sentinel.config import load_config
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
# The builder's install: a wheel of the project, pinned by constraints.txt, no dev extras.
PIP_INSTALL = ["pip", "install", "--no-cache-dir", "-c", "constraints.txt", "."]
INSTALL_TIMEOUT = 600  # a fresh install takes ~30 s here; the index may be slower elsewhere


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    stage: int  # 0 for the first FROM's stage


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments inside a continuation are dropped by Docker too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, value = (pending + line).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        out.append(Instruction(keyword.upper(), " ".join(value.split()), stage))
    return out


PARSED = instructions(DOCKERFILE.read_text())
FINAL = max(i.stage for i in PARSED)


def final(keyword: str) -> list[str]:
    return [i.value for i in PARSED if i.keyword == keyword and i.stage == FINAL]


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list), value
    return [str(x) for x in parsed]


def pip_command() -> list[str]:
    """The one ``pip install`` command of the Dockerfile's RUN lines, as arguments."""
    found = [
        shlex.split(part)
        for i in PARSED
        if i.keyword == "RUN"
        for part in i.value.split("&&")
        if "pip install" in part
    ]
    assert len(found) == 1, f"expected one pip install in the Dockerfile, found {found}"
    return found[0]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for our file: the last matching pattern wins; ! re-includes."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if pat.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(p, pat[3:]) for p in parts)
        else:
            hit = any(fnmatch.fnmatchcase(p, pat) for p in prefixes)
        if hit:
            excluded = not negate
    return excluded


def ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def builder_copies() -> list[str]:
    """Sources of the builder stage's COPY lines (not --from another stage)."""
    sources: list[str] = []
    for i in PARSED:
        if i.keyword == "COPY" and i.stage == 0:
            args = [a for a in shlex.split(i.value) if not a.startswith("--")]
            sources += args[:-1]
    return sources


def build_context(dest: Path) -> None:
    """Copy what the builder stage COPYs, filtered by .dockerignore, to ``dest``."""
    patterns = ignore_patterns()
    for source in builder_copies():
        src = ROOT / source
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for file in files:
            rel = file.relative_to(ROOT).as_posix()
            if dockerignored(rel, patterns):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)


def tool(name: str) -> str:
    """A console script of this venv (dev extras), else from PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    assert found, f"{name} not installed; it is in the dev extras"
    return found


# -- (a) hadolint ------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    """hadolint with .hadolint.yaml (failure threshold: style) reports no finding at all."""
    proc = subprocess.run(
        [tool("hadolint"), "--no-color", "--config", ".hadolint.yaml", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == ""


def test_hadolint_is_really_checking(tmp_path: Path) -> None:
    """The same call fails on a Dockerfile with a floating tag and no USER."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install sentinel\n")
    proc = subprocess.run(
        [tool("hadolint"), "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout  # "latest" tag


# -- (b) the builder's install, reproduced and run ---------------------------------


@dataclass(frozen=True)
class Installed:
    venv: Path
    context: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """One fresh venv per session with the project installed as the Dockerfile does."""
    base = tmp_path_factory.mktemp("image")
    context, venv = base / "context", base / "venv"
    build_context(context)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    command = pip_command()
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return Installed(venv, context)


def test_the_test_runs_the_dockerfiles_pip_command() -> None:
    """The pip command in the Dockerfile is the one this module installs with."""
    assert pip_command() == PIP_INSTALL


def test_the_build_context_has_what_the_build_needs(tmp_path: Path) -> None:
    """.dockerignore keeps every file the COPY lines need and drops the working tree's clutter."""
    patterns = ignore_patterns()
    for needed in ("pyproject.toml", "constraints.txt", "README.md", "config/container.yaml"):
        assert not dockerignored(needed, patterns), needed
    assert not dockerignored("sentinel/cli/main.py", patterns)
    for clutter in (".venv/bin/python", ".git/HEAD", ".state/demo.db", "tests/test_cli.py"):
        assert dockerignored(clutter, patterns), clutter
    assert dockerignored("sentinel/__pycache__/cli.cpython-311.pyc", patterns)
    build_context(tmp_path)
    assert (tmp_path / "sentinel" / "cli" / "main.py").is_file()
    assert (tmp_path / "README.md").is_file()  # hatchling reads it as the readme
    assert not list(tmp_path.rglob("__pycache__"))


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_installed_as_a_wheel_without_dev_extras(installed: Installed) -> None:
    """The venv imports sentinel from site-packages, has no pytest, and pip check is clean."""
    where = subprocess.run(
        [installed.bin("python"), "-c", "import sentinel; print(sentinel.__file__)"],
        cwd=installed.venv,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert where.startswith(str(installed.venv / "lib")), where
    no_pytest = subprocess.run(
        [installed.bin("python"), "-c", "import pytest"], capture_output=True, timeout=60
    )
    assert no_pytest.returncode != 0
    check = subprocess.run(
        [installed.bin("pip"), "check"], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture
def sentinel_process(
    installed: Installed, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str], Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env.pop("PYTHONPATH", None)
    env |= {
        "SENTINEL_CONFIG": str(ROOT / "config" / "container.yaml"),
        "SENTINEL_LISTEN": f"127.0.0.1:{port}",
        "SENTINEL_STORAGE_URL": f"sqlite:{tmp_path}/s.db",
        "SENTINEL_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "sentinel.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [installed.bin("sentinel"), "run"],
            cwd=tmp_path,  # like WORKDIR: nothing of the repository on sys.path
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, env, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.timeout(INSTALL_TIMEOUT + 180)
def test_installed_sentinel_turns_healthy_and_stops_on_sigterm(
    installed: Installed,
    sentinel_process: tuple[subprocess.Popen[bytes], dict[str, str], Path],
) -> None:
    """The installed `sentinel run` on config/container.yaml passes `sentinel healthcheck`; SIGTERM exits 0."""
    proc, env, log = sentinel_process
    # `sentinel run` imports the whole daemon before it listens: seconds on a loaded host.
    deadline = time.monotonic() + 90
    last = ""
    while True:
        assert proc.poll() is None, f"sentinel exited {proc.returncode}:\n{log.read_text()}"
        # The check imports only cli/healthcheck and asks /ready with a 3 s timeout; 30 s
        # tolerates a loaded host (interpreter start, imports) and still catches a hang.
        check = subprocess.run(
            [installed.bin("sentinel"), "healthcheck"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        last = check.stdout + check.stderr
        if check.returncode == 0:
            break
        assert time.monotonic() < deadline, f"never healthy; last: {last}\n{log.read_text()}"
        time.sleep(0.5)
    assert last.startswith("ready: http://127.0.0.1:")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(45) == 0, log.read_text()
    assert '"sentinel_stopped"' in log.read_text()


# -- (c) the image's contract ------------------------------------------------------


def test_base_image_is_pinned_to_an_exact_python_release() -> None:
    """Every FROM is python:3.11.<patch>-slim-bookworm, the same in both stages; no latest."""
    images = [i.value.split()[0] for i in PARSED if i.keyword == "FROM"]
    assert len(images) == 2, images
    for image in images:
        name, _, tag = image.partition(":")
        assert name == "python", image
        assert "latest" not in tag
        version, _, variant = tag.partition("-")
        assert variant == "slim-bookworm", image
        major, minor, patch = version.split(".")
        assert (major, minor) == ("3", "11"), image
        assert patch.isdigit(), image
    assert len(set(images)) == 1


def test_runs_as_the_non_root_sentinel_user() -> None:
    """The final stage's USER is uid 10001, which the image creates as `sentinel`."""
    users = final("USER")
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user in ("10001", "sentinel")
    run = " ".join(final("RUN"))
    assert "useradd" in run
    assert "--uid 10001" in run


def test_healthcheck_expose_volume_and_signals() -> None:
    """HEALTHCHECK runs `sentinel healthcheck`; 9464 exposed; the data volume; exec-form start."""
    (health,) = final("HEALTHCHECK")
    options, _, command = health.partition("CMD ")
    assert exec_form(command) == ["sentinel", "healthcheck"]
    for option in ("--interval=", "--timeout=", "--start-period="):
        assert option in options
    assert final("EXPOSE") == ["9464"]
    volumes = [v for value in final("VOLUME") for v in exec_form(value)]
    assert volumes == ["/var/lib/sentinel"]
    assert final("STOPSIGNAL") == ["SIGTERM"]
    assert exec_form(final("ENTRYPOINT")[-1]) == ["sentinel"]
    assert exec_form(final("CMD")[-1]) == ["run"]


def test_environment_and_default_config() -> None:
    """ENV names the config, the SQLite file on the volume, unbuffered output; the config is copied."""
    env: dict[str, str] = {}
    for value in final("ENV"):
        for item in shlex.split(value):
            key, _, val = item.partition("=")
            env[key] = val
    assert env["SENTINEL_CONFIG"] == "/etc/sentinel/sentinel.yaml"
    assert env["SENTINEL_STORAGE_URL"] == "sqlite:///var/lib/sentinel/sentinel.db"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    copies = final("COPY")
    assert "--from=builder /opt/venv /opt/venv" in copies
    assert "config/container.yaml /etc/sentinel/sentinel.yaml" in copies


def test_container_config_validates_with_no_outside_service() -> None:
    """config/container.yaml loads with an empty environment, listens on 0.0.0.0:9464, checks itself."""
    config = load_config(ROOT / "config" / "container.yaml", {})
    assert config.server.listen == "0.0.0.0:9464"
    assert config.server.api_token is None or not config.server.api_token.get_secret_value()
    assert [c.type for c in config.checks] == ["http"]
    assert not config.channels


def test_labels_and_version() -> None:
    """OCI labels are set; the VERSION build argument defaults to pyproject's version."""
    labels = " ".join(final("LABEL"))
    for key in ("title", "description", "source", "licenses", "version"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"VERSION={project['version']}" in final("ARG")
    assert f'org.opencontainers.image.licenses="{project["license"]}"' in labels
