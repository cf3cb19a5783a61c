"""The real process: SIGHUP reloads (keeping the config on error), SIGTERM stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(url: str, want: str, seconds: float = 20.0) -> str:
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
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{config}:2: checks[0].target: required but missing" in proc.stderr.decode()
