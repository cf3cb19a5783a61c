"""A real daemon probing every hostile case every second keeps its other work on time.

The hostile target is a process of its own (tests/probes/hostile.py), the healthy
target a thread here, the daemon a real ``sentinel run``. For a bounded time
(30 s; 60 s with ``SENTINEL_SOAK=1``) this test samples ``/health`` and then
reads the check history from the API: the healthy check ran on schedule (no gap
over 1.5 intervals), ``/health`` answered within 100 ms (99% of the samples;
every one within 500 ms), every hostile run
ended within its timeout + 0.5 s, and nothing crashed. The only timing
assertions of the hostile suite are here, on a real process, as issue 13 asks.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Target, free_port
from tests.probes.hostile_cases import cases

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 60.0 if os.environ.get("SENTINEL_SOAK") else 30.0
WARM_UP = 5.0  # start-up: the first runs of every check and the store opening
INTERVAL, TIMEOUT = 1.0, 0.9
HEALTH_BOUND = 0.100  # seconds, for 99% of the answers
HEALTH_WORST = 0.500  # seconds, for every answer
SLACK = 0.5  # a run may end this long after its timeout


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture
def hostile_process(tmp_path: Path) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.probes.hostile", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    described = tmp_path / "hostile.json"
    try:
        deadline = time.monotonic() + 30
        while not described.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the hostile target did not start"
            time.sleep(0.1)
        yield json.loads(described.read_text())
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


def daemon_config(tmp_path: Path, port: int, healthy_url: str, hostile: dict[str, Any]) -> Path:
    every = cases(hostile["port"], hostile["tls_ports"], hostile["ca_file"])
    timing = {"interval": f"{INTERVAL:g}s", "timeout": f"{TIMEOUT * 1000:g}ms"}
    checks = [{"name": "healthy", "type": "http", "url": healthy_url, **timing}]
    checks += [{"name": name, **case.spec, **timing} for name, case in every.items()]
    config = {
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": f"sqlite:{tmp_path}/s.db"},
        "checks": checks,
    }
    path = tmp_path / "sentinel.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def started(run: dict[str, Any]) -> float:
    return datetime.fromisoformat(run["started_at"]).timestamp()


def test_hostile_targets_do_not_delay_other_checks_or_the_web_server(
    tmp_path: Path, target: Target, hostile_process: dict[str, Any]
) -> None:
    """All hostile cases at 1 s beside one healthy check, for SECONDS: the healthy check's
    runs are never more than 1.5 intervals apart, /health answers within 100 ms (p99; max
    500 ms), each hostile run ends within its timeout + 0.5 s, no probe crashes."""
    port = free_port()
    config = daemon_config(tmp_path, port, f"{target.url}/health", hostile_process)
    env = {**os.environ, "SENTINEL_LOG_FORMAT": "json", "SENTINEL_CONFIG": str(config)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentinel", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "sentinel exited"
            try:
                get_json(f"{base}/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "sentinel did not start"
                time.sleep(0.1)
        time.sleep(WARM_UP)
        window_start = time.time()
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            asked = time.perf_counter()
            assert get_json(f"{base}/health") == {"status": "alive"}
            latencies.append(time.perf_counter() - asked)
            time.sleep(0.1)
        window_end = time.time()
        history = {
            name: get_json(f"{base}/api/v1/checks/{name}?recent=1000")["recent"]
            for name in ["healthy", *cases(1, hostile_process["tls_ports"], "x")]
        }
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()

    assert "Traceback" not in err
    assert "probe_crashed" not in err
    # The sampler shares 2 busy cores with everything else: one answer in a hundred may
    # lose the CPU for a while, none for long. A bomb inflated on the loop took seconds.
    latencies.sort()
    assert latencies[int(len(latencies) * 0.99)] < HEALTH_BOUND, latencies[-5:]
    assert latencies[-1] < HEALTH_WORST, latencies[-5:]

    healthy = sorted(
        started(r) for r in history["healthy"] if window_start <= started(r) <= window_end
    )
    assert len(healthy) >= SECONDS / INTERVAL * 0.9
    assert all(r["ok"] for r in history["healthy"])
    gaps = [b - a for a, b in itertools.pairwise(healthy)]
    assert max(gaps) <= 1.5 * INTERVAL, max(gaps)

    for name, runs in history.items():
        if name == "healthy":
            continue
        assert runs, f"{name} never ran"
        assert not any(r["ok"] for r in runs), name
        slowest = max(r["duration"] for r in runs)
        assert slowest <= TIMEOUT + SLACK, (name, slowest)
