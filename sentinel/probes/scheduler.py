"""Interval jobs on the Clock: spread over their interval, never overlapping, bounded in concurrency.

Each check gets a fixed phase inside its interval, derived from its name, so
10,000 checks at 10 s start about one per millisecond instead of all at once,
and a check keeps its phase across restarts and reloads. Checks whose phases
fall in the same 10 ms slot share one wake-up.

    spread_offset(name, interval) -> phase in [0, interval)
    last_due(anchor, interval, now) -> the due time a run fired at ``now`` belongs to
    next_due(anchor, interval, now) -> the first due time at or after ``now``
    Scheduler.fire(name)            -> skip (overlap), or wait for a slot, measure lateness, run

One driver task sleeps on the Clock until the earliest due group, starts its
checks, and proves it is alive (``last_tick_age``) at least every
``tick_every``. Everything time-related reads the injected Clock, so tests
drive a whole daemon with :class:`~sentinel.clock.FakeClock`. When several of a
check's due times passed before the driver woke (a blocked loop, a wall clock
that jumped forward), the check runs once and the earlier due times are
counted missed; a wall clock that jumps backwards re-plans every group from
the new now, without starting a due time again that already ran (a cluster
member's clock follows the database's and may step back a little).

:meth:`Scheduler.fire` is the one place a due run is dispatched: anything that
decides per run whether it should happen (overlap today) belongs there.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from sentinel.clock import Clock, sleep_or_wake
from sentinel.metrics import Metrics

log = structlog.get_logger("sentinel.scheduler")

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# Phases are rounded to 10 ms slots: checks due in the same slot start in one
# wake-up, which halves the event loop's work per check at 1,000 checks/s
# and adds at most a few milliseconds of lateness (docs/performance.md).
SLOT = 0.01
# The event loop's timers fire up to a millisecond before the time asked (uvloop counts
# whole milliseconds): a driver woken that little before the group it napped for starts
# the group then instead of napping again for the rest (a second wake-up per group, as
# many as the groups themselves with 1,000 checks; issue 16). Such a run's lateness is 0.
EARLY = timedelta(milliseconds=2)
_MICRO = timedelta(microseconds=1)


def spread_offset(name: str, interval: float, slot: float = 0.0) -> float:
    """A stable phase for ``name`` in [0, interval), evenly distributed over names,
    rounded down to a multiple of ``slot`` so that checks due together start in
    one wake-up of the event loop."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    offset = int.from_bytes(digest, "big") / 2**64 * interval
    if slot > 0:
        offset = math.floor(offset / slot) * slot
    return offset


def _micros(interval: float) -> int:
    return max(1, round(interval * 1_000_000))


def last_due(anchor: datetime, interval: float, now: datetime) -> datetime:
    """The latest ``anchor + k * interval`` that is not after ``now`` (exact to the
    microsecond: the arithmetic is on whole microseconds, not floats)."""
    step = _micros(interval)
    periods = ((now - anchor) // _MICRO) // step
    return anchor + periods * step * _MICRO


def next_due(anchor: datetime, interval: float, now: datetime) -> datetime:
    """The earliest ``anchor + k * interval`` that is not before ``now``."""
    due = last_due(anchor, interval, now)
    return due if due == now else due + _micros(interval) * _MICRO


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    interval: float
    anchor: datetime
    group: str


@dataclass(eq=False, slots=True)
class _Group:
    """Checks sharing an interval and a phase slot: one wake-up for all of them."""

    id: str
    interval: float
    anchor: datetime
    members: set[str] = field(default_factory=set)
    due: datetime | None = None  # the next due time; None until the driver plans it
    ran: datetime | None = None  # the due time last started


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
        self._groups: dict[str, _Group] = {}
        # (due, seq, group): stale rows (group gone or re-planned) are skipped when popped
        self._queue: list[tuple[datetime, int, _Group]] = []
        self._seq = itertools.count()
        self._spawned: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        self._tick_every = tick_every
        self._last_tick: float | None = None
        self._last_now: datetime | None = None
        self._driver: asyncio.Task[None] | None = None
        self._nap: asyncio.Task[None] | None = None
        self._nap_until: datetime | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._drained = asyncio.Event()  # set when the last run in flight ends
        self._stopping = False
        metrics.scheduler_in_flight.set_function(lambda: len(self._running))

    # -- what is scheduled -------------------------------------------------

    def schedule(self, checks: Iterable[tuple[str, float]]) -> None:
        """Make the scheduled set exactly ``checks`` (name, interval); keeps unchanged ones.

        Checks whose phases fall in the same slot share one group, so 10,000
        checks cost 1,000 wake-ups per interval, not 10,000.
        """
        wanted = dict(checks)
        for name in list(self._entries):
            if wanted.get(name) != self._entries[name].interval:
                entry = self._entries.pop(name)
                group = self._groups.get(entry.group)
                if group is not None:
                    group.members.discard(name)
                    if not group.members:
                        del self._groups[entry.group]
        for name, interval in wanted.items():
            if name in self._entries:
                continue
            offset = spread_offset(name, interval, self._slot)
            anchor = EPOCH + timedelta(seconds=offset)
            group_id = f"{interval!r}@{offset!r}"
            self._entries[name] = Entry(name, interval, anchor, group_id)
            group = self._groups.get(group_id)
            if group is None:
                group = self._groups[group_id] = _Group(group_id, interval, anchor)
                if self._driver is not None:
                    self._plan(group, self._clock.now())
            group.members.add(name)

    def _plan(self, group: _Group, now: datetime) -> None:
        """Queue the group's first due time at or after ``now``; wake the driver if
        that comes before its nap ends."""
        group.due = next_due(group.anchor, group.interval, now)
        heapq.heappush(self._queue, (group.due, next(self._seq), group))
        if self._nap is not None and self._nap_until is not None and group.due < self._nap_until:
            self._nap.cancel()

    def _replan(self, now: datetime) -> None:
        """Plan every group from ``now`` (the wall clock went back). A due time a group
        already started is not started again: a step back shorter than the interval
        (the database clock's offset corrected by a few milliseconds) must not probe a
        check twice; a longer one starts each group from the new now."""
        self._queue = []
        for group in self._groups.values():
            due = next_due(group.anchor, group.interval, now)
            if due == group.ran:
                due += _micros(group.interval) * _MICRO
            group.due = due
            self._queue.append((group.due, next(self._seq), group))
        heapq.heapify(self._queue)

    def set_concurrency(self, limit: int) -> None:
        """New runs share ``limit`` slots; runs in flight finish on the old ones."""
        self._slots = asyncio.Semaphore(limit)

    @property
    def scheduled(self) -> list[str]:
        return list(self._entries)

    def idle(self) -> bool:
        """No run started and unfinished (tests on a fake clock wait for this after I/O)."""
        return not self._spawned and not self._running

    @property
    def job_count(self) -> int:
        """Wake-up groups in use: one per occupied slot, not one per check."""
        return len(self._groups)

    # -- running -----------------------------------------------------------

    async def fire(self, name: str, due: datetime | None = None) -> None:
        """One due run of ``name``: skipped if the last one still runs, else started.
        ``due``: the due time it runs for (the driver's; a run started a moment before
        it, see EARLY, counts as on time)."""
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
                if due is not None and now < due:
                    lateness = 0.0
                else:
                    lateness = (now - last_due(entry.anchor, entry.interval, now)).total_seconds()
                self._metrics.lateness(lateness)
                await self._execute(name)
        finally:
            self._running.discard(name)
            if not self._running:
                self._drained.set()
            if task is not None:
                self._tasks.discard(task)

    def _start_due(self, now: datetime) -> None:
        """Start every group due by ``now``, once however many of its due times passed
        (the earlier ones are counted missed), and plan its next due time."""
        queue = self._queue
        while queue and queue[0][0] <= now:
            due, _, group = heapq.heappop(queue)
            if group.due != due or self._groups.get(group.id) is not group:
                continue  # removed by a reload, or re-planned
            step = _micros(group.interval)
            latest = max(due, last_due(group.anchor, group.interval, now))
            group.ran = latest
            group.due = latest + step * _MICRO
            heapq.heappush(queue, (group.due, next(self._seq), group))
            missed = ((latest - due) // _MICRO) // step
            if missed:
                for _ in range(missed * len(group.members)):
                    self._metrics.skipped_missed()
                log.warning(
                    "scheduler_runs_missed",
                    checks=len(group.members),
                    runs=missed,
                    interval=group.interval,
                )
            for name in list(group.members):
                spawned = asyncio.create_task(self.fire(name, latest))
                self._spawned.add(spawned)
                spawned.add_done_callback(self._spawned.discard)

    async def _drive(self) -> None:
        self._replan(self._clock.now())
        current = asyncio.current_task()
        planned: datetime | None = None  # when the last nap was to end
        while True:
            await self._resumed.wait()
            self._tick()
            now = self._clock.now()
            if self._last_now is not None and now < self._last_now:
                self._replan(now)  # the wall clock went backwards
            self._last_now = now
            # woken a moment before the nap's end (EARLY): start what it was for
            early = planned is not None and now < planned <= now + EARLY
            self._start_due(planned if early and planned is not None else now)
            delay = self._tick_every
            if self._queue:
                delay = min(delay, (self._queue[0][0] - now).total_seconds())
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            self._nap_until = planned = now + timedelta(seconds=delay)
            self._nap = asyncio.ensure_future(self._clock.sleep(delay))
            try:
                await self._nap
            except asyncio.CancelledError:
                if current is not None and current.cancelling():
                    raise  # the driver is stopped; otherwise schedule() woke it early
            finally:
                self._nap.cancel()
                self._nap = None
                self._nap_until = None

    def _tick(self) -> None:
        self._last_tick = self._clock.monotonic()

    def last_tick_age(self) -> float | None:
        """Seconds since the scheduler last proved it is alive, or None before the first tick."""
        if self._last_tick is None:
            return None
        return self._clock.monotonic() - self._last_tick

    @property
    def running(self) -> bool:
        """Started and not stopped (a paused scheduler still counts as running)."""
        return self._driver is not None and not self._driver.done() and not self._stopping

    def start(self) -> None:
        """Start the driver on the running event loop."""
        self._tick()
        self._driver = asyncio.get_running_loop().create_task(self._drive())

    def pause(self) -> None:
        """Start nothing and stop ticking until :meth:`resume` (a wedged scheduler, as
        the watchdog must notice); runs in flight go on."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    async def stop(self, grace: float) -> None:
        """No new runs; give runs in flight ``grace`` seconds, then cancel them."""
        self._stopping = True
        if self._driver is not None and not self._driver.done():
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
        if self._running:  # wait for the runs in flight, or the grace, whichever ends first
            self._drained.clear()
            await sleep_or_wake(self._clock, self._drained, grace)
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
