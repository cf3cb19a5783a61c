"""The SLO engine's I/O edge: counters loaded at start, the counted minutes written each
minute (and at stop), each hour the minutes older than the minute ring rolled up into
hours and what is older than the longest window pruned, and the status of every SLO
refreshed for /metrics, the API and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import math

import structlog

from sentinel.clock import Clock
from sentinel.config.models import Config
from sentinel.metrics import Metrics
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo import HOUR, MINUTE, MINUTE_SPAN
from sentinel.rules.slo_engine import SloEngine
from sentinel.rules.slo_table import SloTable
from sentinel.store.protocols import SloMinute, SloStore

log = structlog.get_logger()

# The statuses /metrics and the API show are at most a minute old (the counters'
# resolution); a refresh of 10,000 SLOs costs about 0.2 CPU-s (docs/performance.md).
REFRESH = 60.0
SAVE_EVERY = 1  # refreshes: the counted minutes go to the store each minute
PRUNE_EVERY = 60  # refreshes: an hour
# Several replicas: the other members' minutes are read back this far (a minute older
# than this is not written again: see save()), and again from this long before the
# newest write seen (a write whose transaction commits late).
CATCH_UP_SPAN = 15  # minutes
SHARE_EVERY = 4  # several replicas: writes and reads of the minutes per refresh (15 s)
CATCH_UP_MARGIN = 120.0  # seconds


def hour_start(at: float) -> int:
    """The first minute of the UTC hour holding ``at``."""
    return math.floor(at / HOUR) * (HOUR // MINUTE)


class SloKeeper:
    LOAD_CHUNK = 200  # SLOs whose stored rows are read back at once at start

    def __init__(
        self, engine: SloEngine, store: SloStore, clock: Clock, member: str | None = None
    ) -> None:
        """``member``: this replica's id when several share the store (None: one process).
        Each member writes the runs it counted under its id and adds the others' to its
        counters every 15 s (:meth:`catch_up`), so every member holds the whole SLO."""
        self.engine = engine
        self.store = store
        self.clock = clock
        self.member = member
        # (slo, minute) -> the other members' counts of it in the engine's counters (the
        # last CATCH_UP_SPAN minutes): left out when this member writes that minute.
        self._others: dict[tuple[str, int], tuple[int, int]] = {}
        self._written = 0.0  # the newest write of another member seen (database time)
        self._horizon = 0  # the oldest minute whose others' counts are in _others
        # Every SLO's status at the last refresh, compact; replaced whole: /metrics reads
        # it from a worker thread.
        self.table = SloTable.empty()
        self._unsaved: dict[tuple[str, int], SloMinute] = {}
        self._task: asyncio.Task[None] | None = None
        self._rolled = 0  # the minutes before this one have been rolled up into hours

    @classmethod
    async def start(
        cls,
        rules: RuleEngine,
        store: SloStore,
        clock: Clock,
        config: Config,
        metrics: Metrics,
        member: str | None = None,
    ) -> SloKeeper:
        """An SLO engine attached to ``rules`` (configured with them from now on), its
        counters loaded, its figures on ``metrics``' page; close() it at stop."""
        keeper = cls(SloEngine(), store, clock, member)
        rules.attach(keeper.engine)
        await keeper.open(config)
        metrics.watch_slos(lambda: keeper.table)
        return keeper

    async def open(self, config: Config) -> None:
        """Configure the engine and load its counters back (the budget survives a restart):
        the hours the store rolled up, then the minutes after them, from the UTC hour
        holding the start of the longest window (a stored hour is loaded whole or not)."""
        self.engine.configure(config)
        if config.slos:
            since = self.clock.now().timestamp() - max(s.longest() for s in config.slos)
            await self.load(hour_start(since))
        self.refresh()
        self._task = asyncio.create_task(self._run())

    async def load(self, since_minute: int) -> None:
        """The stored hours and minutes of :data:`LOAD_CHUNK` SLOs at a time: at start
        only their rows are in memory (10,000 SLOs over 30 days are 11 million rows),
        and only their counters are kept inflated while they load."""
        names = [s.name for s in self.engine.slos]
        for i in range(0, len(names), self.LOAD_CHUNK):
            chunk = names[i : i + self.LOAD_CHUNK]
            hours = await self.store.load_slo_hours(since_minute, chunk)
            minutes = await self.store.load_slo_minutes(since_minute, chunk)
            with self.engine.loading(chunk):
                for name, minute, good, total, first in hours:
                    counters = self.engine.counters(name)
                    if counters is not None:
                        counters.load_hour(minute, good, total, first)
                self.engine.load(minutes)
            del hours, minutes
        # What of it others counted (other members, or a version before migration 12,
        # whose rows have no member) is not ours to write again.
        await self.catch_up(add=False)

    async def catch_up(self, *, add: bool = True) -> None:
        """Several replicas: add to the counters what the other members wrote since the
        last look (the increase of each of their recent minutes), so the budget, the
        status and the pairs are the whole SLO's on every member (the daemon: every
        15 s, after :meth:`save`). ``add`` False: only note what the counters already
        hold (at start, loaded whole from the store; one process too)."""
        if self.member is None and add:
            return
        horizon = int(self.clock.now().timestamp() // MINUTE) - CATCH_UP_SPAN
        since = self._written - CATCH_UP_MARGIN if self._written else 0.0
        try:
            rows = await self.store.others_slo_minutes(self.member or "", horizon, since)
        except Exception as exc:
            log.warning("slo_catch_up_failed", error=type(exc).__name__)
            return
        grown = []
        for name, minute, good, total, written in rows:
            before = self._others.get((name, minute), (0, 0))
            self._others[name, minute] = (good, total)
            self._written = max(self._written, written)
            if add and total > before[1]:
                grown.append((name, minute, max(0, good - before[0]), total - before[1]))
        self.engine.load(grown)
        for key in [k for k in self._others if k[1] < horizon]:
            del self._others[key]
        self._horizon = horizon

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.save()

    def refresh(self) -> None:
        now = self.clock.now()
        self.table = SloTable.of(self.engine.slos, self.engine.each_status(now), now.timestamp())

    async def save(self) -> None:
        """Write the minutes counted since the last save; kept for the next try on failure."""
        # A minute of an hour already rolled up (a run over six hours late, the minute
        # ring still holding it) is left out: written again, it would be counted a
        # second time in its hour. Several replicas: a minute older than the catch-up
        # span (a run counted over 15 minutes after its start) may hold other members'
        # counts this one no longer knows: its late runs are left out rather than those
        # counted twice; and the others' part of a minute is not written as ours.
        rows = []
        for row in self.engine.take_dirty():
            if row[1] >= self._rolled and (self.member is None or row[1] >= self._horizon):
                good, total = self._others.get(row[:2], (0, 0))
                if row[3] > total:
                    rows.append((row[0], row[1], row[2] - good, row[3] - total))
        if self._unsaved:  # after a failed save: the newer count of a minute wins
            self._unsaved.update((row[:2], row) for row in rows)
            rows = list(self._unsaved.values())
        if not rows:
            return
        try:
            await self.store.save_slo_minutes(rows, self.member or "")
        except Exception as exc:
            log.warning("slo_save_failed", error=type(exc).__name__, minutes=len(rows))
            self._unsaved = {row[:2]: row for row in rows}
            return
        self._unsaved.clear()

    def shifts(self) -> dict[str, int]:
        """Minutes past the UTC hour where an SLO's hours start, when not on it (a
        calendar month in a zone such as Asia/Kolkata, 30)."""
        out = {}
        for slo in self.engine.slos:
            counters = self.engine.counters(slo.name)
            if counters is not None and counters.hours.offset % HOUR:
                out[slo.name] = counters.hours.offset % HOUR // MINUTE
        return out

    async def prune(self) -> None:
        """Roll the minutes of whole UTC hours before the minute ring's span up into
        hours (the windows never read them per minute again), then delete what is older
        than the longest window and an hour."""
        slos = self.engine.slos
        if not slos:
            return
        now = self.clock.now().timestamp()
        before = hour_start(now - max(s.longest() for s in slos) - HOUR)
        try:
            self._rolled = hour_start(now - MINUTE_SPAN)
            await self.store.roll_up_slo_minutes(self._rolled, self.shifts())
            await self.store.prune_slo_minutes(before)
        except Exception as exc:
            log.warning("slo_prune_failed", error=type(exc).__name__)

    async def _run(self) -> None:
        rounds = 0
        while True:
            if self.member is None:
                await self.clock.sleep(REFRESH)
            else:  # several replicas: what each counted reaches the others sooner
                for _ in range(SHARE_EVERY - 1):
                    await self.clock.sleep(REFRESH / SHARE_EVERY)
                    await self.save()
                    await self.catch_up()
                await self.clock.sleep(REFRESH / SHARE_EVERY)
            rounds += 1
            self.refresh()
            if rounds % SAVE_EVERY == 0:
                await self.save()
                await self.catch_up()
            if rounds % PRUNE_EVERY == 0:
                await self.prune()
