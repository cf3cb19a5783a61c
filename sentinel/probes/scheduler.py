"""Interval jobs: spread over their interval, never overlapping, bounded in concurrency.

APScheduler decides *when*; this module decides *whether* and measures *how
late*. Each check gets a fixed phase inside its interval, derived from its
name, so 10,000 checks at 10 s start about one per millisecond instead of all
at once, and a check keeps its phase across restarts and reloads.

    spread_offset(name, interval) -> phase in [0, interval)
    last_due(anchor, interval, now) -> the due time a run fired at ``now`` belongs to
    Scheduler.fire(name)            -> skip (overlap), or wait for a slot, measure lateness, run
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from sentinel.clock import Clock
from sentinel.metrics import Metrics

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
TICK_JOB = "__tick__"
# Phases are rounded to 10 ms slots: checks due in the same slot start in one
# wake-up, which halves the event loop's work per check at 1,000 checks/s
# and adds at most a few milliseconds of lateness (docs/performance.md).
SLOT = 0.01


def spread_offset(name: str, interval: float, slot: float = 0.0) -> float:
    """A stable phase for ``name`` in [0, interval), evenly distributed over names,
    rounded down to a multiple of ``slot`` so that checks due together start in
    one wake-up of the event loop."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    offset = int.from_bytes(digest, "big") / 2**64 * interval
    if slot > 0:
        offset = math.floor(offset / slot) * slot
    return offset


def last_due(anchor: datetime, interval: float, now: datetime) -> datetime:
    """The latest ``anchor + k * interval`` that is not after ``now``."""
    periods = math.floor((now - anchor).total_seconds() / interval)
    return anchor + timedelta(seconds=periods * interval)


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    interval: float
    anchor: datetime
    group: str


class Scheduler:
    """Runs ``execute(name)`` for every scheduled check on its interval."""

    def __init__(
        self,
        clock: Clock,
        execute: Callable[[str], Awaitable[object]],
        metrics: Metrics,
        max_concurrency: int,
        tick_every: float = 1.0,
        slot: float = SLOT,
    ) -> None:
        self._slot = slot
        self._clock = clock
        self._execute = execute
        self._metrics = metrics
        self._slots = asyncio.Semaphore(max_concurrency)
        self._entries: dict[str, Entry] = {}
        self._groups: dict[str, set[str]] = {}
        self._spawned: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        self._tick_every = tick_every
        self._last_tick: float | None = None
        self._stopping = False
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_listener(self._on_missed, EVENT_JOB_MISSED)
        metrics.scheduler_in_flight.set_function(lambda: len(self._running))

    # -- what is scheduled -------------------------------------------------

    def schedule(self, checks: Iterable[tuple[str, float]]) -> None:
        """Make the scheduled set exactly ``checks`` (name, interval); keeps unchanged ones.

        Checks whose phases fall in the same slot share one APScheduler job, so
        10,000 checks cost APScheduler 1,000 wake-ups per interval, not 10,000.
        """
        wanted = dict(checks)
        for name in list(self._entries):
            if wanted.get(name) != self._entries[name].interval:
                entry = self._entries.pop(name)
                group = self._groups.get(entry.group)
                if group is not None:
                    group.discard(name)
                    if not group:
                        del self._groups[entry.group]
                        self._aps.remove_job(entry.group)
        for name, interval in wanted.items():
            if name in self._entries:
                continue
            offset = spread_offset(name, interval, self._slot)
            anchor = EPOCH + timedelta(seconds=offset)
            group_id = f"{interval!r}@{offset!r}"
            self._entries[name] = Entry(name, interval, anchor, group_id)
            members = self._groups.get(group_id)
            if members is not None:
                members.add(name)
                continue
            self._groups[group_id] = {name}
            self._aps.add_job(
                self._fire_group,
                IntervalTrigger(seconds=interval, start_date=anchor, timezone=UTC),
                args=[group_id],
                id=group_id,
                coalesce=True,
                misfire_grace_time=max(1, math.ceil(interval)),
            )

    async def _fire_group(self, group_id: str) -> None:
        for name in list(self._groups.get(group_id, ())):
            task = asyncio.create_task(self.fire(name))
            self._spawned.add(task)
            task.add_done_callback(self._spawned.discard)

    def set_concurrency(self, limit: int) -> None:
        """New runs share ``limit`` slots; runs in flight finish on the old ones."""
        self._slots = asyncio.Semaphore(limit)

    @property
    def scheduled(self) -> list[str]:
        return list(self._entries)

    @property
    def job_count(self) -> int:
        """APScheduler jobs in use: one per occupied slot, not one per check."""
        return len(self._groups)

    # -- running -----------------------------------------------------------

    async def fire(self, name: str) -> None:
        """One due run of ``name``: skipped if the last one still runs, else started."""
        entry = self._entries.get(name)
        if entry is None or self._stopping:
            return
        if name in self._running:
            self._metrics.skipped_overlap()
            return
        self._running.add(name)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            async with self._slots:
                now = self._clock.now()
                lateness = (now - last_due(entry.anchor, entry.interval, now)).total_seconds()
                self._metrics.lateness(lateness)
                await self._execute(name)
        finally:
            self._running.discard(name)
            if task is not None:
                self._tasks.discard(task)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        for _ in self._groups.get(event.job_id, ()):
            self._metrics.skipped_missed()

    def _tick(self) -> None:
        self._last_tick = self._clock.monotonic()

    async def _tick_job(self) -> None:
        self._tick()

    def last_tick_age(self) -> float | None:
        """Seconds since the scheduler last proved it is alive, or None before the first tick."""
        if self._last_tick is None:
            return None
        return self._clock.monotonic() - self._last_tick

    @property
    def running(self) -> bool:
        return bool(self._aps.running) and not self._stopping

    def start(self) -> None:
        self._tick()
        self._aps.add_job(
            self._tick_job,
            IntervalTrigger(seconds=self._tick_every, timezone=UTC),
            id=TICK_JOB,
            coalesce=True,
        )
        self._aps.start()

    async def stop(self, grace: float) -> None:
        """No new runs; give runs in flight ``grace`` seconds, then cancel them."""
        self._stopping = True
        if self._aps.running:
            self._aps.shutdown(wait=False)
        deadline = self._clock.monotonic() + grace
        while self._running and self._clock.monotonic() < deadline:
            await self._clock.sleep(0.05)
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
