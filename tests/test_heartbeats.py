"""Heartbeats: pings, lateness with grace, failure reports, run duration, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentinel.clock import FakeClock
from sentinel.config.checks import HeartbeatCheck
from sentinel.heartbeats import Beat, HeartbeatBook, judge
from sentinel.probes.base import ProbeContext
from sentinel.probes.heartbeat import HeartbeatProbe

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
DAY, HOUR = 86400.0, 3600.0


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_up_until_every_plus_grace_has_passed() -> None:
    """A daily backup with 1 h grace is up at 25 h after its ping and down just after."""
    beat = Beat().ping("success", at(0))
    assert judge(beat, DAY, HOUR, at(25), T0).ok
    late = judge(beat, DAY, HOUR, at(25) + timedelta(seconds=1), T0)
    assert late.error == "last ping for 1d1h1s (expected every 1d, grace 1h)"
    assert dict((s.name, s.value) for s in late.samples)["since_last_ping_seconds"] == 25 * HOUR + 1


def test_no_ping_yet_counts_from_when_watching_began() -> None:
    """Before the first ping, the allowance starts when sentinel started watching."""
    assert judge(Beat(), DAY, HOUR, at(24), watching_since=T0).ok
    down = judge(Beat(), DAY, HOUR, at(26), watching_since=T0)
    assert down.error == "no ping for 1d2h (expected every 1d, grace 1h)"


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
    assert (await probe.run()).error == "last ping for 1h5m1s (expected every 1h, grace 5m)"
    await ctx.close()
