"""A newcomer's first hour: `make test` sets up what its tests need, `make run` installs
only the runtime, and a test whose tool is missing fails unless skipping is asked for.

scripts/system-tools.sh runs here with a PATH of our own: stand-ins for ``id`` (root
or not) and ``apt-get`` (records its arguments, and "installs" by creating the tools),
so its missing-tool paths are tried without touching the machine's packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import skipping_allowed

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "system-tools.sh"
BASH = shutil.which("bash") or "/bin/bash"
CHMOD = shutil.which("chmod") or "/bin/chmod"
INSTALL = "apt-get update && apt-get install -y --no-install-recommends prometheus chromium prometheus-alertmanager"


def executable(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def bin_dir(tmp_path: Path, *, uid: int, installs: bool = True) -> Path:
    """A PATH of stand-ins: ``id -u`` prints ``uid``; ``apt-get`` appends its arguments
    to apt.log and, on ``install``, creates promtool, chromium and amtool when ``installs``."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    executable(bin_ / "id", f"echo {uid}\n")
    create = "".join(
        f"  printf '#!/bin/sh\\n' > {bin_}/{tool}; {CHMOD} +x {bin_}/{tool}\n"
        for tool in ("promtool", "chromium", "amtool")
    )
    executable(
        bin_ / "apt-get",
        f'echo "$*" >> {tmp_path}/apt.log\n'
        + (f'if [ "$1" = install ]; then\n{create}fi\n' if installs else ""),
    )
    return bin_


def run_script(bin_: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(SCRIPT)],
        env={"PATH": str(bin_), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_nothing_to_do_when_the_tools_are_there(tmp_path: Path) -> None:
    bin_ = bin_dir(tmp_path, uid=0)
    executable(bin_ / "promtool", "")
    executable(bin_ / "chromium", "")
    executable(bin_ / "amtool", "")
    proc = run_script(bin_)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert apt_calls(tmp_path) == []


def test_as_root_it_installs_the_missing_packages(tmp_path: Path) -> None:
    """Root: apt-get update, then one install of both packages; the tools are then there."""
    bin_ = bin_dir(tmp_path, uid=0)
    proc = run_script(bin_)
    assert proc.returncode == 0, proc.stderr
    assert apt_calls(tmp_path) == [
        "update -qq",
        "install -y -qq --no-install-recommends prometheus chromium prometheus-alertmanager",
    ]
    assert (bin_ / "promtool").exists()
    assert (bin_ / "amtool").exists()
    assert "installing prometheus chromium prometheus-alertmanager" in proc.stdout


def test_only_the_missing_package_is_installed(tmp_path: Path) -> None:
    bin_ = bin_dir(tmp_path, uid=0)
    executable(bin_ / "promtool", "")
    executable(bin_ / "amtool", "")
    assert run_script(bin_).returncode == 0
    assert apt_calls(tmp_path)[-1] == "install -y -qq --no-install-recommends chromium"


def test_not_root_stops_at_once_with_the_command_to_run(tmp_path: Path) -> None:
    proc = run_script(bin_dir(tmp_path, uid=1000))
    assert proc.returncode == 1
    assert f"  {INSTALL}\n" in proc.stderr
    assert "not root" in proc.stderr
    assert apt_calls(tmp_path) == []


def test_not_root_with_skipping_allowed_goes_on(tmp_path: Path) -> None:
    proc = run_script(bin_dir(tmp_path, uid=1000), SENTINEL_ALLOW_SKIP="1")
    assert proc.returncode == 0
    assert INSTALL in proc.stderr
    assert "will skip" in proc.stderr


def test_an_install_that_brings_no_tool_fails(tmp_path: Path) -> None:
    proc = run_script(bin_dir(tmp_path, uid=0, installs=False))
    assert proc.returncode == 1
    assert "promtool is still missing" in proc.stderr


def test_chromium_may_be_named_by_sentinel_chromium(tmp_path: Path) -> None:
    bin_ = bin_dir(tmp_path, uid=1000)
    executable(bin_ / "promtool", "")
    executable(bin_ / "amtool", "")
    executable(tmp_path / "my-chrome", "")
    assert run_script(bin_, SENTINEL_CHROMIUM=str(tmp_path / "my-chrome")).returncode == 0


# -- the Makefile --------------------------------------------------------------


def make_dry_run(tmp_path: Path, target: str) -> list[str]:
    """The commands ``make -n TARGET`` would run in a fresh clone (no venv yet)."""
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}  # not make's child
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_make_test_sets_up_the_system_tools_first(tmp_path: Path) -> None:
    commands = make_dry_run(tmp_path, "test")
    assert commands[0] == "bash scripts/system-tools.sh"
    assert any("-e '.[dev]'" in c for c in commands)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get" not in ci  # one place installs the tools: the script
    assert ci.rstrip().endswith("make test")


def test_make_run_installs_the_runtime_only(tmp_path: Path) -> None:
    """The demo needs no linters, type checker or browser driver (about 500 MB)."""
    commands = make_dry_run(tmp_path, "run")
    installs = [c for c in commands if "pip install" in c and "-e " in c]
    assert installs == [".venv/bin/pip install --quiet -c constraints.txt -e ."]
    assert commands[-1] == ".venv/bin/sentinel run -c config/demo.yaml"


# -- tests that need a tool ----------------------------------------------------


def test_skipping_is_opt_in() -> None:
    assert not skipping_allowed({})
    assert not skipping_allowed({"SENTINEL_ALLOW_SKIP": "0"})
    assert skipping_allowed({"SENTINEL_ALLOW_SKIP": "1"})
    # CI's former switch still forbids skips, whatever else is set
    assert not skipping_allowed({"SENTINEL_ALLOW_SKIP": "1", "SENTINEL_REQUIRE_SERVICES": "1"})


@pytest.mark.parametrize(
    ("allow", "outcome"), [(None, "1 failed"), ("1", "1 skipped")], ids=["default", "allowed"]
)
def test_a_test_whose_tool_is_missing_fails_unless_skipping_is_asked_for(
    tmp_path: Path, allow: str | None, outcome: str
) -> None:
    """promtool off PATH: the rule check fails by default, skips with SENTINEL_ALLOW_SKIP=1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env["PATH"] = str(Path(sys.executable).parent)  # the venv only: no promtool there
    if allow is not None:
        env["SENTINEL_ALLOW_SKIP"] = allow
    test = "tests/deploy/test_prometheus.py::test_rules_pass_promtool_check_rules"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome in proc.stdout, proc.stdout + proc.stderr
    assert "promtool not found: install Debian's prometheus package" in proc.stdout
