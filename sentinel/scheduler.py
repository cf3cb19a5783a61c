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


def spread_offset(name: str, interval: float) -> float:
    """A stable phase for ``name`` in [0, interval), evenly distributed over names."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval


def last_due(anchor: datetime, interval: float, now: datetime) -> datetime:
    """The latest ``anchor + k * interval`` that is not after ``now``."""
    periods = math.floor((now - anchor).total_seconds() / interval)
    return anchor + timedelta(seconds=periods * interval)


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    interval: float
    anchor: datetime


class Scheduler:
    """Runs ``execute(name)`` for every scheduled check on its interval."""

    def __init__(
        self,
        clock: Clock,
        execute: Callable[[str], Awaitable[object]],
        metrics: Metrics,
        max_concurrency: int,
        tick_every: float = 1.0,
    ) -> None:
        self._clock = clock
        self._execute = execute
        self._metrics = metrics
        self._slots = asyncio.Semaphore(max_concurrency)
        self._entries: dict[str, Entry] = {}
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        self._tick_every = tick_every
        self._last_tick: float | None = None
        self._stopping = False
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_listener(self._on_missed, EVENT_JOB_MISSED)

    # -- what is scheduled -------------------------------------------------

    def schedule(self, checks: Iterable[tuple[str, float]]) -> None:
        """Make the scheduled set exactly ``checks`` (name, interval); keeps unchanged jobs."""
        wanted = dict(checks)
        for name in list(self._entries):
            if wanted.get(name) != self._entries[name].interval:
                del self._entries[name]
                if self._aps.get_job(name) is not None:
                    self._aps.remove_job(name)
        for name, interval in wanted.items():
            if name in self._entries:
                continue
            entry = Entry(name, interval, EPOCH + timedelta(seconds=spread_offset(name, interval)))
            self._entries[name] = entry
            self._aps.add_job(
                self.fire,
                IntervalTrigger(seconds=interval, start_date=entry.anchor, timezone=UTC),
                args=[name],
                id=name,
                # A second instance may start only to find the first still running and count
                # the skip; ``fire`` returns at once in that case.
                max_instances=2,
                coalesce=True,
                misfire_grace_time=max(1, math.ceil(interval)),
            )

    def set_concurrency(self, limit: int) -> None:
        """New runs share ``limit`` slots; runs in flight finish on the old ones."""
        self._slots = asyncio.Semaphore(limit)

    @property
    def scheduled(self) -> list[str]:
        return list(self._entries)

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
        self._metrics.scheduler_in_flight.inc()
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
            self._metrics.scheduler_in_flight.dec()

    def _on_missed(self, event: JobExecutionEvent) -> None:
        if event.job_id != TICK_JOB:
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
