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


def hour_start(at: float) -> int:
    """The first minute of the UTC hour holding ``at``."""
    return math.floor(at / HOUR) * (HOUR // MINUTE)


class SloKeeper:
    LOAD_CHUNK = 200  # SLOs whose stored rows are read back at once at start

    def __init__(self, engine: SloEngine, store: SloStore, clock: Clock) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
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
    ) -> SloKeeper:
        """An SLO engine attached to ``rules`` (configured with them from now on), its
        counters loaded, its figures on ``metrics``' page; close() it at stop."""
        keeper = cls(SloEngine(), store, clock)
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
        # second time in its hour.
        rows = [row for row in self.engine.take_dirty() if row[1] >= self._rolled]
        if self._unsaved:  # after a failed save: the newer count of a minute wins
            self._unsaved.update((row[:2], row) for row in rows)
            rows = list(self._unsaved.values())
        if not rows:
            return
        try:
            await self.store.save_slo_minutes(rows)
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
            await self.clock.sleep(REFRESH)
            rounds += 1
            self.refresh()
            if rounds % SAVE_EVERY == 0:
                await self.save()
            if rounds % PRUNE_EVERY == 0:
                await self.prune()
