"""Heartbeats: pings, lateness with grace, failure reports, run duration, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentinel.clock import FakeClock
from sentinel.config.checks import HeartbeatCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.heartbeat import HeartbeatProbe
from sentinel.probes.heartbeats import Beat, HeartbeatBook, judge
from sentinel.probes.results import LatestResults
from sentinel.probes.runner import Armed, CheckRunner

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
DAY, HOUR = 86400.0, 3600.0


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_up_until_every_plus_grace_has_passed() -> None:
    """A daily backup with 1 h grace is up at 25 h after its ping and down just after."""
    beat = Beat().ping("success", at(0))
    assert judge(beat, DAY, HOUR, at(25), T0).ok
    late = judge(beat, DAY, HOUR, at(25) + timedelta(seconds=1), T0)
    assert late.error == "no ping since 2026-03-01T02:00:00Z (expected every 1d, grace 1h)"
    assert dict((s.name, s.value) for s in late.samples)["since_last_ping_seconds"] == 25 * HOUR + 1


def test_no_ping_yet_counts_from_when_watching_began() -> None:
    """Before the first ping, the allowance starts when sentinel started watching; within
    it the heartbeat is up with a note, after it down with a reason that names no age."""
    pending = judge(Beat(), DAY, HOUR, at(25), watching_since=T0)
    assert pending.ok
    assert pending.error == "never pinged; grace not yet over"
    down = judge(Beat(), DAY, HOUR, at(26), watching_since=T0)
    assert down.error == (
        "never pinged since sentinel started watching it at 2026-03-01T02:00:00Z "
        "(expected every 1d, grace 1h)"
    )


def test_fail_ping_is_down_until_the_next_success() -> None:
    """/fail marks the heartbeat down at once; the next success clears it."""
    beat = Beat().ping("success", at(0)).ping("fail", at(1))
    assert judge(beat, DAY, HOUR, at(1), T0).error == "job reported failure"
    assert judge(beat.ping("success", at(2)), DAY, HOUR, at(2), T0).ok


def test_duration_runs_from_start_to_success() -> None:
    """last_duration_seconds is the time from /start to the success that follows it."""
    beat = Beat().ping("start", at(0)).ping("success", at(0.5))
    assert beat.last_duration == 1800
    again = beat.ping("success", at(24))  # a success without a new start keeps the last duration
    assert again.last_duration == 1800


async def test_probe_reads_the_book_on_the_clock() -> None:
    """The probe judges the book at the clock's time: up after a ping, down once late."""
    clock = FakeClock(start=T0)
    book = HeartbeatBook(watching_since=T0)
    ctx = ProbeContext(clock=clock, heartbeats=book)
    check = HeartbeatCheck.model_validate(
        {"type": "heartbeat", "name": "backup", "every": "1h", "grace": "5m"}
    )
    probe = HeartbeatProbe(check, ctx)
    book.ping("backup", "success", clock.now())
    await clock.advance(3600 + 299)
    assert (await probe.run()).ok
    await clock.advance(2)
    assert (
        await probe.run()
    ).error == "no ping since 2026-03-01T02:00:00Z (expected every 1h, grace 5m)"
    await ctx.close()


async def test_never_pinged_counts_from_when_the_context_began_watching() -> None:
    """Without a book of its own (``sentinel check``), a heartbeat is watched from the moment
    the probe context was made, never from 1970: pending within its grace, then down."""
    clock = FakeClock(start=T0)
    ctx = ProbeContext(clock=clock)
    check = HeartbeatCheck.model_validate(
        {"type": "heartbeat", "name": "backup", "every": "1h", "grace": "5m"}
    )
    probe = HeartbeatProbe(check, ctx)
    first = await probe.run()
    assert (first.ok, first.error) == (True, "never pinged; grace not yet over")
    await clock.advance(3600 + 301)
    late = await probe.run()
    assert not late.ok
    assert late.error == (
        "never pinged since sentinel started watching it at 2026-03-01T02:00:00Z "
        "(expected every 1h, grace 5m)"
    )
    await ctx.close()


async def test_a_heartbeat_that_stays_late_keeps_one_reason_and_logs_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run after run, a late heartbeat's reason does not age, so check_failed is logged
    once, not on every run (824 of 986 log lines in an hour, before)."""
    clock = FakeClock(start=T0)
    book = HeartbeatBook(watching_since=T0)
    ctx = ProbeContext(clock=clock, heartbeats=book)
    check = HeartbeatCheck.model_validate(
        {"type": "heartbeat", "name": "backup", "every": "1m", "grace": "30s", "interval": "10s"}
    )
    book.ping("backup", "success", clock.now())
    latest = LatestResults()
    runner = CheckRunner(clock, latest, [latest.record])
    runner.arm({"backup": Armed(check, "heartbeat", HeartbeatProbe(check, ctx))})
    reasons = set()
    for _ in range(60):
        await clock.advance(10)
        result = await runner.run("backup")
        assert result is not None
        if not result.ok:
            reasons.add(result.error)
    assert reasons == {"no ping since 2026-03-01T02:00:00Z (expected every 1m, grace 30s)"}
    assert capsys.readouterr().out.count("check_failed") == 1
    await ctx.close()
