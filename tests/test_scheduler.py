"""Scheduler: even spread, stable phases, no overlap, concurrency limit, lateness."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from sentinel.clock import FakeClock
from sentinel.metrics import Metrics
from sentinel.probes.results import LatestResults
from sentinel.probes.scheduler import (
    EPOCH,
    SLOT,
    Scheduler,
    last_due,
    next_due,
    spread_offset,
)


def make_metrics() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics(registry, LatestResults(), "test"), registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_offsets_spread_evenly_over_the_interval() -> None:
    """10,000 checks at 10 s land in every one of 100 slots of 100 ms, none overloaded."""
    slots = [0] * 100
    for i in range(10_000):
        offset = spread_offset(f"check-{i}", 10.0)
        assert 0 <= offset < 10.0
        slots[int(offset * 10)] += 1
    assert min(slots) > 60
    assert max(slots) < 140


def test_offsets_are_rounded_to_slots() -> None:
    """With a slot, every phase is a whole number of slots, still inside the interval."""
    for i in range(1000):
        offset = spread_offset(f"check-{i}", 10.0, 0.01)
        assert 0 <= offset < 10.0
        assert abs(offset / 0.01 - round(offset / 0.01)) < 1e-6


def test_checks_in_one_slot_share_one_job() -> None:
    """10,000 checks at 10 s need at most 1,000 wake-up groups (one per 10 ms slot)."""
    metrics, _ = make_metrics()

    async def execute(name: str) -> None:
        return None

    scheduler = Scheduler(FakeClock(), execute, metrics, max_concurrency=10)
    scheduler.schedule((f"check-{i}", 10.0) for i in range(10_000))
    assert len(scheduler.scheduled) == 10_000
    assert 900 < scheduler.job_count <= 1000
    scheduler.schedule((f"check-{i}", 10.0) for i in range(10))
    assert len(scheduler.scheduled) == 10
    assert scheduler.job_count <= 10


def test_offset_is_stable_for_a_name() -> None:
    """A check keeps its phase across restarts: the offset depends only on name and interval."""
    assert spread_offset("api", 30.0) == spread_offset("api", 30.0)
    assert spread_offset("api", 30.0) != spread_offset("db", 30.0)


@given(
    st.floats(min_value=0.1, max_value=86400),
    st.floats(min_value=0, max_value=10**9),
)
def test_last_due_is_the_latest_due_time_not_after_now(interval: float, elapsed: float) -> None:
    """last_due returns a due time within one interval before now, never after it."""
    now = EPOCH + timedelta(seconds=elapsed)
    due = last_due(EPOCH, interval, now)
    assert due <= now
    assert (now - due).total_seconds() < interval + 1e-3


async def test_lateness_is_measured_from_the_due_time() -> None:
    """A run that starts 40 ms after its due time records 0.04 s of lateness."""
    metrics, registry = make_metrics()
    ran: list[str] = []

    async def execute(name: str) -> None:
        ran.append(name)

    anchor_offset = spread_offset("api", 10.0, SLOT)
    due = EPOCH + timedelta(seconds=anchor_offset + 10.0 * 100_000)
    clock = FakeClock(start=due + timedelta(milliseconds=40))
    scheduler = Scheduler(clock, execute, metrics, max_concurrency=10)
    scheduler.schedule([("api", 10.0)])
    await scheduler.fire("api")
    assert ran == ["api"]
    assert value(registry, "sentinel_scheduler_lateness_seconds_count") == 1
    total = value(registry, "sentinel_scheduler_lateness_seconds_sum")
    assert abs(total - 0.04) < 1e-4


async def test_a_run_still_going_is_not_overlapped_and_the_skip_is_counted() -> None:
    """When the next run is due while the last still runs, it is skipped and counted."""
    metrics, registry = make_metrics()
    clock = FakeClock()
    started: list[str] = []

    async def execute(name: str) -> None:
        started.append(name)
        await clock.sleep(25)

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=10)
    scheduler.schedule([("slow", 10.0)])
    first = asyncio.create_task(scheduler.fire("slow"))
    await clock.advance(10)
    await scheduler.fire("slow")
    await clock.advance(10)
    await scheduler.fire("slow")
    assert started == ["slow"]
    assert value(registry, "sentinel_scheduler_skipped_runs_total", reason="overlap") == 2
    await clock.advance(5)
    await first
    second = asyncio.create_task(scheduler.fire("slow"))
    await clock.advance(0)
    assert started == ["slow", "slow"]
    await clock.advance(25)
    await second


async def test_concurrency_limit_holds_runs_until_a_slot_frees() -> None:
    """With two slots, a third check waits until one of the first two finishes."""
    metrics, registry = make_metrics()
    clock = FakeClock()
    active: list[str] = []
    peak = 0

    async def execute(name: str) -> None:
        nonlocal peak
        active.append(name)
        peak = max(peak, len(active))
        await clock.sleep(1)
        active.remove(name)

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=2)
    scheduler.schedule([("a", 10.0), ("b", 10.0), ("c", 10.0)])
    tasks = [asyncio.create_task(scheduler.fire(n)) for n in ("a", "b", "c")]
    await clock.advance(0)
    assert sorted(active) == ["a", "b"]
    assert value(registry, "sentinel_scheduler_in_flight_checks") == 3
    await clock.advance(1)
    assert active == ["c"]
    await clock.advance(1)
    await asyncio.gather(*tasks)
    assert peak == 2
    assert value(registry, "sentinel_scheduler_in_flight_checks") == 0


async def test_reschedule_keeps_unchanged_jobs_and_drops_removed_ones() -> None:
    """schedule() makes the set exactly what it is given; unknown names never run."""
    metrics, _ = make_metrics()
    clock = FakeClock()
    ran: list[str] = []

    async def execute(name: str) -> None:
        ran.append(name)

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=5)
    scheduler.schedule([("a", 10.0), ("b", 10.0)])
    scheduler.schedule([("a", 10.0), ("c", 5.0)])
    assert sorted(scheduler.scheduled) == ["a", "c"]
    await scheduler.fire("b")
    await scheduler.fire("c")
    assert ran == ["c"]


async def test_stop_cancels_runs_that_outlast_the_grace() -> None:
    """stop() waits for runs in flight up to the grace, then cancels them."""
    metrics, _ = make_metrics()
    clock = FakeClock()
    finished: list[str] = []

    async def execute(name: str) -> None:
        await clock.sleep(2 if name == "quick" else 100)
        finished.append(name)

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=5)
    scheduler.schedule([("quick", 10.0), ("stuck", 10.0)])
    tasks = [asyncio.create_task(scheduler.fire(n)) for n in ("quick", "stuck")]
    await clock.advance(0)
    stopping = asyncio.create_task(scheduler.stop(grace=5))
    for _ in range(120):
        await clock.advance(0.05)
    await stopping
    await asyncio.gather(*tasks, return_exceptions=True)
    assert finished == ["quick"]
    assert all(t.done() for t in tasks)
    await scheduler.fire("quick")
    assert finished == ["quick"]


async def test_stop_returns_when_the_runs_in_flight_end_without_the_clock_moving() -> None:
    """stop() waits for the runs themselves, not in steps of the clock: on a fake clock
    that nobody moves, a run ending on real I/O lets stop() return at once."""
    metrics, _ = make_metrics()
    clock = FakeClock()
    answered = asyncio.Event()

    async def execute(name: str) -> None:
        await answered.wait()  # a probe waiting on the network

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=5)
    scheduler.schedule([("api", 10.0)])
    run = asyncio.create_task(scheduler.fire("api"))
    await asyncio.sleep(0)
    stopping = asyncio.create_task(scheduler.stop(grace=30))
    await asyncio.sleep(0)
    assert not stopping.done()
    answered.set()
    await asyncio.wait_for(stopping, 5)
    assert run.done()
    assert not run.cancelled()
    assert scheduler.idle()


async def test_last_tick_age_follows_the_clock() -> None:
    """/ready's tick age is measured on the injected clock: a running scheduler ticks at
    least every second of it; a paused (wedged) one stops ticking and the age grows."""
    metrics, _ = make_metrics()
    clock = FakeClock(start=datetime(2026, 3, 1, tzinfo=UTC))

    async def execute(name: str) -> None:
        return None

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=1)
    assert scheduler.last_tick_age() is None
    scheduler.start()
    await clock.advance(7)
    age = scheduler.last_tick_age()
    assert age is not None
    assert age <= 1
    scheduler.pause()
    await clock.advance(7)
    assert scheduler.last_tick_age() == 7 + age
    assert scheduler.running
    scheduler.resume()
    await clock.advance(0)
    assert scheduler.last_tick_age() == 0
    await scheduler.stop(grace=0)
    assert not scheduler.running


def phase(name: str, interval: float) -> float:
    """Seconds from the FakeClock's start to the check's first due time."""
    start = FakeClock().now()
    anchor = EPOCH + timedelta(seconds=spread_offset(name, interval, SLOT))
    return (next_due(anchor, interval, start) - start).total_seconds()


async def test_checks_run_on_the_clock_at_their_phase_every_interval() -> None:
    """On a fake clock, each check runs at its phase and then once per interval, and
    its lateness is zero: the scheduler sleeps on the Clock, not on real time."""
    metrics, registry = make_metrics()
    clock = FakeClock()
    ran: list[tuple[str, float]] = []
    start = clock.monotonic()

    async def execute(name: str) -> None:
        ran.append((name, round(clock.monotonic() - start, 6)))

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=10)
    scheduler.schedule([("a", 10.0), ("b", 4.0)])
    scheduler.start()
    for _ in range(300):
        await clock.advance(0.1)
    await scheduler.stop(grace=0)
    for name, interval in (("a", 10.0), ("b", 4.0)):
        times = [at for n, at in ran if n == name]
        first = phase(name, interval)
        expected = [round(first + k * interval, 6) for k in range(100) if first + k * interval < 30]
        assert times == pytest.approx(expected, abs=1e-5)
    assert value(registry, "sentinel_scheduler_lateness_seconds_sum") < 1e-3
    assert value(registry, "sentinel_scheduler_lateness_seconds_count") == len(ran)


async def test_a_check_added_while_running_wakes_the_scheduler_for_its_first_run() -> None:
    """schedule() of a new check while the scheduler naps: it runs at its own due time,
    not at the end of the nap."""
    metrics, _ = make_metrics()
    clock = FakeClock()
    ran: list[float] = []
    start = clock.monotonic()

    async def execute(name: str) -> None:
        ran.append(clock.monotonic() - start)

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=10, tick_every=3600)
    scheduler.start()
    await clock.advance(0)
    scheduler.schedule([("late", 0.5)])
    await clock.advance(1)
    await scheduler.stop(grace=0)
    first = phase("late", 0.5)
    assert ran == pytest.approx([first, first + 0.5], abs=1e-5)


async def test_due_times_passed_during_a_stall_run_once_and_count_as_missed() -> None:
    """When the loop wakes 60 s late, each 2 s check runs once, not 30 times (the runs
    are coalesced), each due time that passed unrun is counted missed, and the next due
    time runs normally."""
    metrics, registry = make_metrics()
    clock = FakeClock()
    ran: list[str] = []

    async def execute(name: str) -> None:
        ran.append(name)

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=10, tick_every=3600)
    scheduler.schedule([("a", 2.0)])
    scheduler.start()
    await clock.advance(2)
    assert ran == ["a"]
    clock._move_to(clock.monotonic() + 61)  # the loop was blocked: nobody woke meanwhile
    await clock.advance(0)
    assert ran == ["a", "a"]
    assert value(registry, "sentinel_scheduler_skipped_runs_total", reason="missed") == 30
    await clock.advance(2)
    assert ran == ["a", "a", "a"]
    await scheduler.stop(grace=0)


async def test_a_wall_clock_stepping_back_less_than_an_interval_runs_no_due_time_twice() -> None:
    """A cluster member's clock follows the database's: a heartbeat that corrects the
    offset by a little steps the wall clock back past a due time already run. The check
    is not probed again for it (a duplicate probe); it runs at its next due time."""
    metrics, _ = make_metrics()
    clock = FakeClock()
    ran: list[datetime] = []

    async def execute(name: str) -> None:
        ran.append(clock.now())

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=10)
    scheduler.schedule([("a", 10.0)])
    scheduler.start()
    await clock.advance(phase("a", 10.0) + 0.5)
    assert len(ran) == 1
    clock._wall -= timedelta(seconds=2)  # past the due time just run, by less than 10 s
    for _ in range(5):
        await clock.advance(1)
    assert len(ran) == 1
    for _ in range(7):
        await clock.advance(1)
    assert len(ran) == 2
    assert ran[1] - ran[0] == timedelta(seconds=10)  # on the wall clock: the next due time
    await scheduler.stop(grace=0)


async def test_a_wall_clock_going_backwards_keeps_checks_running() -> None:
    """The wall clock steps back an hour: the checks keep their interval from the new
    now instead of waiting for the old due times to come round again."""
    metrics, _ = make_metrics()
    clock = FakeClock()
    ran: list[str] = []

    async def execute(name: str) -> None:
        ran.append(name)

    scheduler = Scheduler(clock, execute, metrics, max_concurrency=10)
    scheduler.schedule([("a", 1.0)])
    scheduler.start()
    await clock.advance(1)
    assert ran == ["a"]
    clock._wall -= timedelta(hours=1)
    for _ in range(5):
        await clock.advance(1)
    assert len(ran) >= 5
    await scheduler.stop(grace=0)
