"""Wiring: every stage built from config, started, reloaded on SIGHUP, stopped on SIGTERM.

This is the only module that knows all the others. Data flows one way:
scheduler -> runner (probe -> Result) -> sinks (latest results, metrics,
history writer, rules) -> transitions -> the alert shell (app/alerts.py:
persist, routing, escalation) -> outbox -> dispatcher. What the web app reads
and writes is app/facade.py.

Lifecycle is one sequence and stays here: what start() opens, stop() closes in
reverse, and reload() swaps in place. The pieces it wires live beside it:
app/startup.py (the store, opened with backoff; the ack key; the listening
socket), app/arming.py (a probe per check), app/channels.py (a notifier per
channel), app/loops.py (background tasks and the loops), app/sharing.py (a
cluster member's share).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from sentinel import __version__
from sentinel.app import cluster
from sentinel.app.alerts import Alerts
from sentinel.app.arming import arm, close_probes, count_configured
from sentinel.app.channels import build_notifiers, close_notifiers, options
from sentinel.app.facade import Facade
from sentinel.app.loops import Announcer, Background, escalation_loop, prune_loop
from sentinel.app.sharing import MemberShare
from sentinel.app.startup import (
    StartError,
    ack_key,
    build_store,
    load_again,
    open_with_retry,
    serve,
)
from sentinel.app.watchdog import Watchdog, observe
from sentinel.clock import Clock
from sentinel.cluster.heartbeat import ClusterMembership
from sentinel.cluster.sharing import Sharing
from sentinel.config import Config, secret_values
from sentinel.config.models import Channel
from sentinel.config.settings import Settings
from sentinel.escalation.desk import Desk
from sentinel.escalation.escalator import Escalator
from sentinel.logs import Redactor
from sentinel.metrics import Metrics
from sentinel.notify.base import Notice, Notifier
from sentinel.notify.dispatcher import Dispatcher
from sentinel.probes.base import ProbeContext
from sentinel.probes.heartbeats import HeartbeatBook
from sentinel.probes.results import LatestResults, RecentRuns, Result
from sentinel.probes.runner import Armed, CheckRunner
from sentinel.probes.scheduler import Scheduler
from sentinel.reports.schedule import ReportScheduler
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.store import Store, StoreError
from sentinel.store.writer import ResultWriter
from sentinel.web.app import create_app

__all__ = ["STOP_GRACE_MAX", "Daemon", "StartError"]

log = structlog.get_logger("sentinel.daemon")
STOP_GRACE_MAX = 30.0


class Daemon:
    def __init__(
        self,
        config: Config,
        settings: Settings,
        clock: Clock,
        env: Mapping[str, str],
        redactor: Redactor,
        registry_: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        # one process (SQLite) or a cluster member (PostgreSQL): docs/scaling.md
        self.node = cluster.build(config, settings, clock)
        self.clock = clock = self.node.clock
        self.env = env
        self.redactor = redactor
        self.latest = LatestResults()
        self.recent = RecentRuns()
        self.registry = registry_ or CollectorRegistry()
        self.metrics = Metrics(self.registry, self.latest, __version__)
        self.heartbeats = HeartbeatBook(watching_since=clock.now())
        self.probe_context = ProbeContext(
            clock=clock,
            heartbeats=self.heartbeats,
            source_address=settings.probe_source_address,
        )
        self.store: Store = build_store(config, settings)
        self.writer = ResultWriter(self.store, clock, on_error=self._store_failed)
        self.metrics.watch_store(lambda: self.writer.pending, lambda: self.writer.dropped)
        self.rules = RuleEngine()
        self.runner = CheckRunner(
            clock,
            self.latest,
            [
                self.latest.record,
                self.recent.record,
                self.metrics.record_result,
                self.writer.submit,
                self._observe,
            ],
        )
        self.scheduler = Scheduler(
            clock, self.runner.run, self.metrics, config.scheduler.max_concurrency
        )
        self.dispatcher = Dispatcher(self.store, clock, self.metrics, config.notifications)
        self.escalator = Escalator(config, self.store, self.dispatcher, clock, self.metrics)
        self.incidents = Desk(self.escalator, self.store, clock, lambda: self.config)
        self.slo_keeper: SloKeeper | None = None  # made at start: it loads the SLO counters
        self._kick = asyncio.Event()
        self.alerts = Alerts(
            config,
            self.rules,
            self.latest,
            self.store,
            self.escalator,
            clock,
            on_firing=self._kick.set,
        )
        self.metrics.watch_alerts(self.alerts.counts)
        self._background = Background()
        self._announcer = Announcer(self.rules, self.alerts, clock, self.spawn)
        self.reports = ReportScheduler(config, self.store, clock, self._send_report)
        self.notifiers: dict[str, tuple[Channel, Notifier]] = {}
        self._notify_session: aiohttp.ClientSession | None = None
        self.armed: dict[str, Armed] = {}
        self.sharing: Sharing | None = None  # a cluster member's share of the checks
        self.unsupported: dict[str, str] = {}
        self.started_at: datetime = clock.now()
        self._stop = asyncio.Event()
        self._web: web.AppRunner | None = None
        self._channel_opts: tuple[str | None, float] | None = None
        self.listening: list[tuple[str, int]] = []
        self._opened = AsyncExitStack()
        self._reloading = asyncio.Lock()
        self.facade = Facade(self)

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Open and start every part, in order. If one fails, what was opened is closed
        again in reverse order and StartError says why in one line; a store that waiting
        can fix is retried with backoff until it opens or a stop is requested."""
        opened = self._opened = AsyncExitStack()
        try:
            if not await open_with_retry(self.store, self.clock, self._stop):
                return  # stopped while waiting for the store
            opened.push_async_callback(self.store.close)
            self.heartbeats.load(await self.store.load_heartbeats())
            self.writer.start()
            opened.push_async_callback(self.writer.stop)
            # SLO wiring (issue 19): burn-rate alerts as rule instances beside the rules'
            # (same store, escalation, silences, maintenance, incidents); the keeper loads
            # and saves the per-minute counters and refreshes what /metrics and the API show.
            membership = self.node.membership
            self.slo_keeper = await SloKeeper.start(
                self.rules,
                self.store,
                self.clock,
                self.config,
                self.metrics,
                membership.me.id if membership.clustered else None,
            )
            opened.push_async_callback(self.slo_keeper.close)
            self.rules.configure(self.config)
            self.rules.restore(await self.store.load_alerts())
            await self.alerts.inhibition.load()  # SLO alerts' holds under way
            self.alerts.silences = await self.store.load_silences()
            self.alerts.ack_key = await ack_key(self.config, self.store)
            await self.escalator.restore()
            self._notify_session = aiohttp.ClientSession()
            opened.push_async_callback(self._notify_session.close)
            opened.push_async_callback(
                lambda: close_notifiers(n for _, n in self.notifiers.values())
            )
            self._configure_channels(self.config)
            await self.node.start(self.dispatcher, self.escalator, self.metrics, self.store)
            opened.push_async_callback(self.node.stop)
            if isinstance(self.node.membership, ClusterMembership):
                opened.push_async_callback(self._share(self.node.membership).close)
            await self.dispatcher.start()
            opened.push_async_callback(self.dispatcher.stop)
            opened.push_async_callback(self.probe_context.close)
            opened.push_async_callback(lambda: close_probes(self.armed.values()))
            self._arm(self.config)
            self.scheduler.start()
            opened.push_async_callback(self._stop_scheduler)
            await self._serve()
            opened.push_async_callback(self._stop_background)
            self.spawn(prune_loop(self.store, self.clock, lambda: self.config.storage.history))
            self.spawn(self._announcer.rule_loop())
            self.spawn(escalation_loop(self.escalator, self.alerts, self.clock, self._kick))
            self.spawn(self.reports.run())
            self.spawn(self._watchdog().run())
            self.spawn(self.incidents.run())  # status updates and reminders (issue 20)
        except BaseException as exc:
            await self._close_opened()
            if isinstance(exc, StoreError):
                raise StartError(str(exc)) from None
            raise
        self.metrics.config_reload_successful.set(1)
        self.metrics.config_reload_timestamp.set(self.clock.now().timestamp())
        # The config, probes and jobs live as long as the process: move them out of
        # the collector's sight so its full passes stay short with 10,000 checks.
        gc.freeze()
        # Each probe run allocates a few dozen short-lived objects; collecting the
        # youngest generation every 700 allocations showed up at 1,000 runs/s.
        gc.set_threshold(20_000, 20, 20)
        log.info(
            "sentinel_started",
            version=__version__,
            checks=len(self.armed),
            unsupported=sorted(self.unsupported),
            listen=self.config.server.listen,
        )

    async def stop(self) -> None:
        """Stop in reverse order of start: no new runs, runs in flight get their grace,
        the history is flushed, then everything is closed."""
        log.info("sentinel_stopping")
        await self._close_opened()
        log.info("sentinel_stopped")

    async def _close_opened(self) -> None:
        try:
            await self._opened.aclose()
        except Exception as exc:
            log.error("sentinel_close_failed", error=type(exc).__name__)

    async def _stop_scheduler(self) -> None:
        grace = min(STOP_GRACE_MAX, max((c.timeout for c in self.config.checks), default=1.0))
        await self.scheduler.stop(grace)

    async def _stop_background(self) -> None:
        if self._web is not None:
            await self._web.cleanup()
        await self._background.stop()

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self.spawn(self.reload()))
        try:
            await self.start()
            try:
                await self._stop.wait()
            finally:
                await self.stop()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    def request_stop(self) -> None:
        self._stop.set()

    async def reload(self) -> list[str]:
        """Validate the file again, off the event loop, and switch to it; on any error
        keep what runs and return the problems (empty: reloaded)."""
        async with self._reloading:
            new, problems = await load_again(self.settings, self.env)
            if new is None:
                self.metrics.config_reload_successful.set(0)
                problems = [self.redactor.scrub(p) for p in problems]
                log.error("config_reload_failed", problems=problems)
                return problems
            self.alerts.ack_key = await ack_key(new, self.store)
            old = self.armed
            self._switch_to(new)
            await close_probes(p for name, p in old.items() if self.armed.get(name) is not p)
        self.metrics.config_reload_successful.set(1)
        self.metrics.config_reload_timestamp.set(self.clock.now().timestamp())
        log.info("config_reloaded", checks=len(self.armed))
        return []

    def _switch_to(self, new: Config) -> None:
        if new.server.listen != self.config.server.listen or (
            new.storage.url.get_secret_value() != self.config.storage.url.get_secret_value()
        ):
            log.warning("config_reload_needs_restart", sections=["server.listen", "storage.url"])
        self.redactor.set_secrets(secret_values(new))
        self.rules.configure(new)
        self.escalator.configure(new)
        self.alerts.configure(new)
        self.reports.config = new
        self._configure_channels(new)
        self._arm(new)
        self.scheduler.set_concurrency(new.scheduler.max_concurrency)
        self.config = new

    # -- wiring --------------------------------------------------------------

    def _arm(self, config: Config) -> None:
        armed, unsupported = arm(config, self.armed, self.probe_context)
        self.armed, self.unsupported = armed, unsupported
        self.runner.arm(armed)
        self.latest.retain(set(armed))
        self.recent.retain(set(armed))
        if self.sharing is not None:
            self.sharing.configure(armed)  # a cluster member schedules its share only
        else:
            self.scheduler.schedule((name, a.check.interval) for name, a in armed.items())
        count_configured(self.metrics, config, armed, unsupported)

    def _share(self, membership: ClusterMembership) -> Sharing:
        """A cluster member (docs/scaling.md, "Checks across members"): app/sharing.py."""
        share = MemberShare(
            membership,
            self.node,
            self.store,
            self.clock,
            self.scheduler,
            self.runner,
            self.rules,
            self.metrics,
            self.latest,
            self.slo_keeper.engine if self.slo_keeper is not None else None,
        )
        self.sharing = share.sharing
        self.spawn(share.sharing.run())
        return share.sharing

    def _configure_channels(self, config: Config) -> None:
        """One notifier per channel (app/channels.py); retired ones are closed."""
        assert self._notify_session is not None
        opts = options(config)
        same_opts = opts == self._channel_opts
        self._channel_opts = opts
        self.notifiers = build_notifiers(
            config, self.notifiers, same_opts, self._notify_session, self.clock
        )
        retired = self.dispatcher.configure(
            {name: (ch.type, n) for name, (ch, n) in self.notifiers.items()},
            config.notifications,
        )
        if retired:
            self.spawn(close_notifiers(retired))

    async def _serve(self) -> None:
        app = create_app(self.facade, self.metrics)
        self._web = await serve(app, self.config.server.listen)
        self.listening = [(str(a[0]), int(a[1])) for a in self._web.addresses]

    def idle(self) -> bool:
        """Nothing a moment of the clock started is still running: no check run in flight
        (the scheduler), every alert transition taken is saved (the alert shell), no
        escalation tick due or in flight, and the dispatcher waits on the clock with no
        send and no store I/O in flight. Tests on a fake clock wait for this before
        moving time again."""
        return (
            self.scheduler.idle()
            and self.alerts.idle()
            and not self._kick.is_set()
            and self.escalator.idle()
            and self.dispatcher.idle()
        )

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._background.spawn(coro)

    def _watchdog(self) -> Watchdog:
        assert self._notify_session is not None
        return Watchdog(
            lambda: self.config.watchdog,
            lambda: observe(self.scheduler, self.writer, self.dispatcher, self.clock),
            self.clock,
            self._notify_session,
            self.metrics,
        )

    def _observe(self, result: Result) -> None:
        self._announcer.observe(result)

    async def _send_report(self, name: str, targets: Sequence[str], notice: Notice) -> None:
        if not self.node.membership.leader:
            return  # in a cluster the leader sends scheduled reports
        await self.escalator.announce(f"report:{name}", notice, targets)

    @property
    def ack_key(self) -> bytes:
        return self.alerts.ack_key

    def status(self) -> dict[str, Any]:
        """The status of every check and alert (what ``GET /api/v1/status`` answers)."""
        return self.facade.status()

    def _store_failed(self, exc: BaseException) -> None:
        self.metrics.store_write_failures.inc()
        log.warning("store_write_failed", error=type(exc).__name__, pending=self.writer.pending)
