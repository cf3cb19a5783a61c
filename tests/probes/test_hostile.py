"""Hostile targets (issue 13): garbage status lines, 1 MB headers, endless and trickling
bodies, redirect loops, gzip and deflate bombs, invalid UTF-8, resets, a 50 MB JSON, lying
Content-Lengths, deep nesting and bad certificates. Each is a failed check with a short
reason: never a probe crash, never a traceback, and the memory a check may use is bounded.

The server is tests/probes/hostile.py; tests/test_hostile_daemon.py runs the same cases
in a real daemon and measures that they do not delay other checks.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sentinel.clock import SystemClock
from sentinel.probes.base import ProbeContext
from sentinel.probes.registry import registry
from sentinel.probes.runner import Armed, execute
from tests.probes.hostile import Hostile, start
from tests.probes.hostile_cases import CASE_NAMES, cases, check_of

ROOT = Path(__file__).resolve().parents[2]
SHORT = 100  # characters: a reason fits a notification's one line
RSS_BOUND_MIB = 64  # peak RSS growth over all cases, one after another (docs/reliability.md)


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[Hostile]:
    target = await start(tmp_path)
    yield target
    await target.close()


@pytest.mark.parametrize("name", CASE_NAMES)
async def test_a_hostile_target_is_a_failed_check_with_a_short_reason(
    name: str, hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run ends as a failed result with the expected short reason, through the same
    runner the daemon uses: a probe that crashed would say 'probe error: ...'."""
    case = cases(hostile.port, hostile.tls_ports, hostile.ca_file)[name]
    check = check_of(name, case, interval="5s", timeout="3s")
    clock = SystemClock()
    ctx = ProbeContext(clock=clock)
    probe = registry()[check.type](check, ctx)
    try:
        result = await execute(Armed(check, check.type, probe), clock)
    finally:
        await probe.close()
        await ctx.close()
    assert not result.ok
    assert case.accepts(result.error), result.error
    assert result.error is not None
    assert len(result.error) <= SHORT
    logged = capsys.readouterr()
    assert "probe_crashed" not in logged.out + logged.err
    assert "Traceback" not in logged.out + logged.err


async def test_memory_stays_bounded_across_every_hostile_case(hostile: Hostile) -> None:
    """All cases run one after another in a child process (so its peak RSS is theirs alone):
    the peak grows by less than RSS_BOUND_MIB over a warmed-up probe (a 960 MiB gzip bomb
    took 1.2 GB, a deflate one 2 GB, before)."""
    where = {"port": hostile.port, "tls_ports": hostile.tls_ports, "ca_file": hostile.ca_file}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.probes.hostile_cases",
        json.dumps(where),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err
    report = json.loads(out)
    expected = cases(hostile.port, hostile.tls_ports, hostile.ca_file)
    assert sorted(report["results"]) == sorted(expected)
    for name, result in report["results"].items():
        assert not result["ok"], name
        assert expected[name].accepts(result["error"]), (name, result["error"])
    assert report["rss_growth_kib"] < RSS_BOUND_MIB * 1024, report["rss_growth_kib"]
