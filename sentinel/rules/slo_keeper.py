"""The SLO engine's I/O edge: counters loaded at start, the counted minutes written each
minute (and at stop), minutes older than the longest window pruned, and the status of
every SLO refreshed for /metrics, the API and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import math

import structlog
from prometheus_client import CollectorRegistry

from sentinel.clock import Clock
from sentinel.config.models import Config
from sentinel.metrics import watch_slos
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo import SloStatus
from sentinel.rules.slo_engine import SloEngine
from sentinel.store.protocols import SloMinute, SloStore

log = structlog.get_logger()

# The statuses /metrics and the API show are at most a minute old (the counters'
# resolution); a refresh of 10,000 SLOs costs about 0.2 CPU-s (docs/performance.md).
REFRESH = 60.0
SAVE_EVERY = 1  # refreshes: the counted minutes go to the store each minute
PRUNE_EVERY = 60  # refreshes: an hour


class SloKeeper:
    def __init__(self, engine: SloEngine, store: SloStore, clock: Clock) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.statuses: tuple[SloStatus, ...] = ()  # replaced whole: readable from a thread
        self._unsaved: dict[tuple[str, int], SloMinute] = {}
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        rules: RuleEngine,
        store: SloStore,
        clock: Clock,
        config: Config,
        registry: CollectorRegistry,
    ) -> SloKeeper:
        """An SLO engine attached to ``rules`` (configured with them from now on), its
        counters loaded, its metrics on ``registry``; close() it at stop."""
        keeper = cls(SloEngine(), store, clock)
        rules.attach(keeper.engine)
        await keeper.open(config)
        watch_slos(registry, lambda: keeper.statuses)
        return keeper

    async def open(self, config: Config) -> None:
        """Configure the engine and load its counters back (the budget survives a restart)."""
        self.engine.configure(config)
        if config.slos:
            since = self.clock.now().timestamp() - max(s.longest() for s in config.slos)
            self.engine.load(await self.store.load_slo_minutes(math.floor(since / 60)))
        self.refresh()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.save()

    def refresh(self) -> None:
        self.statuses = tuple(self.engine.statuses(self.clock.now()))

    async def save(self) -> None:
        """Write the minutes counted since the last save; kept for the next try on failure."""
        for row in self.engine.take_dirty():
            self._unsaved[row[:2]] = row
        if not self._unsaved:
            return
        rows = list(self._unsaved.values())
        try:
            await self.store.save_slo_minutes(rows)
        except Exception as exc:
            log.warning("slo_save_failed", error=type(exc).__name__, minutes=len(rows))
            return
        self._unsaved.clear()

    async def prune(self) -> None:
        slos = self.engine.slos
        if not slos:
            return
        before = self.clock.now().timestamp() - max(s.longest() for s in slos) - 3600
        try:
            await self.store.prune_slo_minutes(math.floor(before / 60))
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
