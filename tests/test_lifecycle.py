"""The real process: SIGHUP reloads (keeping the config on error), SIGTERM stops cleanly."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from sentinel.clock import SystemClock
from sentinel.config.checks import RedisCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.registry import registry
from sentinel.probes.unbuildable import build_probe
from tests.conftest import free_port

# A fresh `sentinel` process imports the whole daemon before it says or serves anything:
# a few seconds alone, tens of seconds on a loaded 2-core host. Every wait that includes
# a start is bounded by this; a process that hangs still fails the test.
STARTUP = 90.0


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(url: str, want: str, seconds: float = STARTUP) -> str:
    """Poll a URL of the child process until its body contains ``want``; bounded."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            _, last = get(url)
            if want in last:
                return last
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never showed {want!r}; last: {last[:500]}")


@pytest.fixture
def process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    port = free_port()
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        f"""
server: {{listen: "127.0.0.1:{port}"}}
storage: {{url: "sqlite:{tmp_path}/s.db"}}
checks:
  - {{name: self, type: http, url: "http://127.0.0.1:{port}/health",
      interval: 200ms, timeout: 200ms}}
"""
    )
    env = {**os.environ, "SENTINEL_LOG_FORMAT": "json", "SENTINEL_CONFIG": str(config)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentinel", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    yield proc, config, port
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()


def test_sighup_with_a_bad_file_keeps_running_and_sigterm_stops(
    process: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    """A failed reload sets the gauge to 0 and keeps checking; SIGTERM exits 0 after flushing."""
    proc, config, port = process
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/metrics", 'sentinel_check_up{check="self",type="http"} 1.0')
    good = config.read_text()
    config.write_text("checks: [oops\n")
    proc.send_signal(signal.SIGHUP)
    wait_for(f"{base}/metrics", "sentinel_config_last_reload_successful 0.0")
    config.write_text(good.replace("name: self", "name: self2"))
    proc.send_signal(signal.SIGHUP)
    wait_for(f"{base}/metrics", 'sentinel_check_up{check="self2",type="http"} 1.0')
    assert "sentinel_config_last_reload_successful 1.0" in get(f"{base}/metrics")[1]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert '"event": "config_reload_failed"' in err
    assert '"event": "sentinel_stopped"' in err


def test_a_bad_config_at_start_exits_2(tmp_path: Path) -> None:
    """run with an invalid file exits 2 with the reason, before starting anything."""
    config = tmp_path / "bad.yaml"
    config.write_text("checks:\n  - name: a\n    type: tcp\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel", "run", "-c", str(config)],
        capture_output=True,
        timeout=STARTUP,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{config}:2: checks[0].target: required but missing" in proc.stderr.decode()


def run_briefly(
    tmp_path: Path, config: str, *args: str, env_vars: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """Run ``sentinel <args>`` on a config until it exits by itself (bounded): its exit
    code and its output lines (stderr then stdout)."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(config)
    env = {**os.environ, "SENTINEL_LOG_FORMAT": "json", **(env_vars or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel", *args, "-c", str(path)],
        env=env,
        capture_output=True,
        timeout=STARTUP,
        check=False,
    )
    return proc.returncode, (proc.stderr + proc.stdout).decode().splitlines()


def start_failure(lines: list[str]) -> str:
    """The one line a failed start says, as JSON; nothing else is written."""
    assert len(lines) == 1, lines
    event = json.loads(lines[0])
    assert event["event"] == "sentinel_start_failed"
    return str(event["reason"])


def test_a_taken_port_ends_the_process_with_one_line(tmp_path: Path) -> None:
    """The port is taken: the store it opened is closed again, one line says which
    address, exit 1 at once (it used to hang, deaf to SIGTERM, until SIGKILL)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, lines = run_briefly(
            tmp_path,
            f'server: {{listen: "127.0.0.1:{port}"}}\nstorage: {{url: "sqlite:{tmp_path}/s.db"}}\n',
            "run",
        )
    assert code == 1
    assert start_failure(lines) == f"cannot listen on 127.0.0.1:{port}: address already in use"
    assert (tmp_path / "s.db").exists()  # it was opened, then closed: the process could exit


def test_a_store_that_cannot_open_ends_the_process_with_one_line(tmp_path: Path) -> None:
    """The store path is a directory (as unusable as an unwritable file): one line, exit 1."""
    (tmp_path / "s.db").mkdir()
    code, lines = run_briefly(
        tmp_path,
        f'server: {{listen: "127.0.0.1:0"}}\nstorage: {{url: "sqlite:{tmp_path}/s.db"}}\n',
        "run",
    )
    assert code == 1
    assert start_failure(lines) == f"cannot open {tmp_path}/s.db: unable to open database file"


def test_a_postgresql_database_that_does_not_exist_is_one_line_and_exit_1(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """storage.url naming a database the server does not have: waiting cannot fix it,
    so one line (no traceback, no password) and exit 1 at once."""
    parts = urlsplit(postgres_dsn)
    host = parts.hostname or "127.0.0.1"
    url = f"postgresql://{parts.username or 'postgres'}:pw-1234@{host}:{parts.port or 5432}"
    code, lines = run_briefly(
        tmp_path,
        f'server: {{listen: "127.0.0.1:0"}}\nstorage: {{url: "{url}/sentinel_no_such_db"}}\n',
        "run",
    )
    assert code == 1
    assert "the database does not exist" in start_failure(lines)
    assert "pw-1234" not in "".join(lines)


def test_a_store_another_process_holds_is_retried_until_it_opens(tmp_path: Path) -> None:
    """Waiting can fix a locked database: sentinel says so, retries with backoff, starts
    once the lock is released, and stops on SIGTERM."""
    db = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    port = free_port()
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        f'server: {{listen: "127.0.0.1:{port}"}}\nstorage: {{url: "sqlite:{tmp_path}/s.db"}}\n'
    )
    env = {**os.environ, "SENTINEL_LOG_FORMAT": "json", "SENTINEL_CONFIG": str(config)}
    with subprocess.Popen(
        [sys.executable, "-m", "sentinel", "run"], env=env, stderr=subprocess.PIPE
    ) as proc:
        try:
            assert proc.stderr is not None
            assert select.select([proc.stderr], [], [], STARTUP)[0], "nothing said"
            first = json.loads(proc.stderr.readline())
            assert first["event"] == "store_unavailable"
            assert first["attempt"] == 1
            assert first["retry_in"] == 1.0
            assert "database is locked" in first["reason"]
            db.execute("ROLLBACK")
            db.close()
            wait_for(f"http://127.0.0.1:{port}/health", "alive")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_sigterm_while_waiting_for_the_store_exits_0(tmp_path: Path) -> None:
    """Stopped while it retries a locked store: it stops at once, cleanly."""
    db = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        f'server: {{listen: "127.0.0.1:0"}}\nstorage: {{url: "sqlite:{tmp_path}/s.db"}}\n'
    )
    env = {**os.environ, "SENTINEL_LOG_FORMAT": "json", "SENTINEL_CONFIG": str(config)}
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "sentinel", "run"], env=env, stderr=subprocess.PIPE
        ) as proc:
            try:
                assert proc.stderr is not None
                assert select.select([proc.stderr], [], [], STARTUP)[0], "nothing said"
                assert json.loads(proc.stderr.readline())["event"] == "store_unavailable"
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(5) == 0
                events = [json.loads(line)["event"] for line in proc.stderr.read().splitlines()]
                assert events == ["sentinel_stopping", "sentinel_stopped"]
            finally:
                if proc.poll() is None:
                    proc.kill()
    finally:
        db.close()


def test_check_with_a_url_its_probe_cannot_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A Redis URL with port 'notaport': refused when the config loads (the field and
    line named), so `check` never meets it; no traceback."""
    code, lines = run_briefly(
        tmp_path,
        "checks:\n  - {name: cache, type: redis, url: 'redis://127.0.0.1:notaport/0'}\n",
        "check",
    )
    assert code == 2
    assert len(lines) == 1
    assert "checks[0].url" in lines[0]
    assert not any("Traceback" in line for line in lines)


async def test_a_probe_that_cannot_be_built_fails_its_check_with_the_error_type() -> None:
    """What validation misses still never crashes run or check: the real redis probe
    factory, given a check that skipped validation, becomes a check failing with a reason
    that names the error's type only (its message could quote a password)."""
    check = RedisCheck.model_construct(
        name="cache", type="redis", url=SecretStr("redis://:s3cret@127.0.0.1:notaport/0")
    )
    probe = build_probe(registry()["redis"], check, ProbeContext(clock=SystemClock()))
    outcome = await probe.run()
    assert not outcome.ok
    assert outcome.error == "invalid check configuration (ValueError)"


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of a process's output, each of which must be one JSON object."""
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return events


def test_a_reload_of_a_file_that_is_not_utf8_logs_one_json_line(
    process: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    """A SIGHUP with invalid UTF-8 in the file: the reload fails in one JSON line with the
    problem, every line of the run is JSON, and the file's bytes never reach the log."""
    proc, config, port = process
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/metrics", 'sentinel_check_up{check="self",type="http"} 1.0')
    config.write_bytes(config.read_bytes() + b"# token: hunter2-\xff\xfe\n")
    proc.send_signal(signal.SIGHUP)
    wait_for(f"{base}/metrics", "sentinel_config_last_reload_successful 0.0")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert proc.stderr is not None
    assert proc.stdout is not None
    err = proc.stderr.read().decode(errors="replace")
    events = json_lines(err) + json_lines(proc.stdout.read().decode())
    failed = [e for e in events if e["event"] == "config_reload_failed"]
    assert len(failed) == 1
    assert "hunter2" not in err
    problems = failed[0]["problems"]
    assert isinstance(problems, list)
    assert len(problems) == 1
    assert problems[0].startswith(str(config))


LEAK = """
import asyncio, gc, sys, time
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sentinel.logs import Redactor, configure, loop_exception_handler

redactor = Redactor()
redactor.set_secrets(["hunter2-secret"])
configure("info", "json", redactor)

async def fail() -> None:
    raise RuntimeError("boom with hunter2-secret")

async def main() -> None:
    asyncio.get_running_loop().set_exception_handler(loop_exception_handler)
    aps = AsyncIOScheduler()
    aps.add_job(
        lambda: None, "interval", seconds=0.2, misfire_grace_time=1, coalesce=False, id="j"
    )
    aps.start()
    await asyncio.sleep(0.3)
    time.sleep(2.0)  # the loop blocked: runs due more than 1 s ago are missed
    await asyncio.sleep(0.5)
    task = asyncio.ensure_future(fail())
    await asyncio.sleep(0.1)
    del task
    gc.collect()
    await asyncio.sleep(0.1)
    aps.shutdown(wait=False)

asyncio.run(main())
print("done", flush=True)
"""


def test_library_log_lines_are_json_and_redacted(tmp_path: Path) -> None:
    """A real process set up as sentinel sets itself up: asyncio's "never retrieved" and
    APScheduler's missed run come out as JSON lines, secrets blanked; anything printed
    by a library is JSON too."""
    env = {**os.environ, "SENTINEL_LOG_FORMAT": "json"}
    proc = subprocess.run(
        [sys.executable, "-c", LEAK], env=env, capture_output=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    err = proc.stderr.decode()
    assert "hunter2-secret" not in err
    events = json_lines(err)
    missed = [e for e in events if "was missed by" in str(e["event"])]
    assert missed[0]["logger"] == "apscheduler.executors.default"
    assert missed[0]["level"] == "warning"
    loop_errors = [e for e in events if e["event"] == "event_loop_error"]
    assert loop_errors[0]["message"] == "Task exception was never retrieved"
    assert loop_errors[0]["error"] == "RuntimeError"
    assert "boom with ***" in str(loop_errors[0]["exception"])


@pytest.mark.parametrize(
    ("command", "variable", "value", "says"),
    [
        ("run", "SENTINEL_LISTEN", "garbage", "SENTINEL_LISTEN: expected host:port"),
        ("run", "SENTINEL_STORAGE_URL", "mysql://x", "SENTINEL_STORAGE_URL: "),
        ("check", "SENTINEL_LOG_LEVEL", "loud", "SENTINEL_LOG_LEVEL: Input should be 'debug'"),
        ("run", "SENTINEL_EVENT_LOOP", "fast", "SENTINEL_EVENT_LOOP: Input should be 'uvloop'"),
    ],
)
def test_a_bad_process_setting_is_one_line_and_exit_2(
    tmp_path: Path, command: str, variable: str, value: str, says: str
) -> None:
    """Settings from the environment are configuration too: one line, exit 2."""
    code, lines = run_briefly(tmp_path, "checks: []\n", command, env_vars={variable: value})
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith(says)
