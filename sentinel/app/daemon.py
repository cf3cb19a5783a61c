"""Wiring: every stage built from config, started, reloaded on SIGHUP, stopped on SIGTERM.

This is the only module that knows all the others. Data flows one way:
scheduler -> runner (probe -> Result) -> sinks (latest results, metrics,
history writer, rules) -> transitions -> the alert shell (app/alerts.py:
persist, routing, escalation) -> outbox -> dispatcher. What the web app reads
and writes is app/facade.py.

It runs past 400 lines because lifecycle is one sequence: what start() opens,
stop() closes in reverse, and reload() swaps in place; split up, the order
would live in several files.
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import signal
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from sentinel import __version__
from sentinel.app import cluster
from sentinel.app.alerts import RULE_TICK, Alerts
from sentinel.app.facade import Facade
from sentinel.app.watchdog import Observations, Watchdog
from sentinel.clock import Clock, sleep_or_wake
from sentinel.cluster.heartbeat import ClusterMembership
from sentinel.cluster.sharing import Sharing
from sentinel.config import (
    Config,
    ConfigError,
    secret_values,
    split_listen,
)
from sentinel.config.models import Channel
from sentinel.config.settings import Settings, load
from sentinel.escalation.desk import Desk
from sentinel.escalation.escalator import Escalator
from sentinel.logs import Redactor
from sentinel.metrics import Metrics
from sentinel.notify import NotifierDeps, build_notifier
from sentinel.notify.base import Notice, Notifier
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.render import Renderer
from sentinel.probes.base import ProbeContext
from sentinel.probes.heartbeats import HeartbeatBook
from sentinel.probes.registry import registry
from sentinel.probes.results import LatestResults, RecentRuns, Result
from sentinel.probes.runner import Armed, CheckRunner
from sentinel.probes.scheduler import Scheduler
from sentinel.probes.unbuildable import Unbuildable, build_probe
from sentinel.reports.schedule import ReportScheduler
from sentinel.rules.engine import RuleEngine, Transition
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.store import Store, StoreError, open_store
from sentinel.store.writer import ResultWriter
from sentinel.web.app import create_app

log = structlog.get_logger("sentinel.daemon")
PRUNE_EVERY = 3600.0
ESCALATION_TICK = 1.0  # escalation steps fall due between transitions
STOP_GRACE_MAX = 30.0
RETRY_MAX = 30.0  # longest wait between two attempts to open the store at start


class StartError(Exception):
    """sentinel cannot start, and waiting will not change that; the message is one line,
    safe to log. ``exit_code``: 2 when the configuration is unusable, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def retry_delay(attempt: int) -> float:
    """Backoff before start-up retry ``attempt`` (1, 2, 4, ... seconds, at most 30)."""
    return float(min(RETRY_MAX, 2 ** min(attempt - 1, 10)))


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
        try:
            self.store: Store = open_store(
                config.storage.url.get_secret_value(),
                pool_size=config.storage.pool_size,
                force=settings.force_store,
            )
        except StoreError as exc:
            raise StartError(str(exc), exit_code=2) from None
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
        self.metrics.watch_alerts(self._alert_counts)
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
        self.reports = ReportScheduler(config, self.store, clock, self._send_report)
        self.notifiers: dict[str, tuple[Channel, Notifier]] = {}
        self._notify_session: aiohttp.ClientSession | None = None
        self.armed: dict[str, Armed] = {}
        self.sharing: Sharing | None = None  # a cluster member's share of the checks
        self.unsupported: dict[str, str] = {}
        self.started_at: datetime = clock.now()
        self._stop = asyncio.Event()
        self._web: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
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
            if not await self._open_store():
                return  # stopped while waiting for the store
            opened.push_async_callback(self.store.close)
            self.heartbeats.load(await self.store.load_heartbeats())
            self.writer.start()
            opened.push_async_callback(self.writer.stop)
            # SLO wiring (issue 19): burn-rate alerts as rule instances beside the rules'
            # (same store, escalation, silences, maintenance, incidents); the keeper loads
            # and saves the per-minute counters and refreshes what /metrics and the API show.
            self.slo_keeper = await SloKeeper.start(
                self.rules, self.store, self.clock, self.config, self.registry
            )
            opened.push_async_callback(self.slo_keeper.close)
            self.rules.configure(self.config)
            self.rules.restore(await self.store.load_alerts())
            self.alerts.silences = await self.store.load_silences()
            self.alerts.ack_key = await self._ack_key(self.config)
            await self.escalator.restore()
            self._notify_session = aiohttp.ClientSession()
            opened.push_async_callback(self._notify_session.close)
            opened.push_async_callback(
                lambda: self._close_notifiers(n for _, n in self.notifiers.values())
            )
            self._configure_channels(self.config)
            await self.node.start(self.dispatcher, self.escalator, self.metrics, self.store)
            opened.push_async_callback(self.node.stop)
            if isinstance(self.node.membership, ClusterMembership):
                opened.push_async_callback(self._share(self.node.membership).close)
            await self.dispatcher.start()
            opened.push_async_callback(self.dispatcher.stop)
            opened.push_async_callback(self.probe_context.close)
            opened.push_async_callback(lambda: self._close_probes(self.armed.values()))
            self._arm(self.config)
            self.scheduler.start()
            opened.push_async_callback(self._stop_scheduler)
            await self._serve()
            opened.push_async_callback(self._stop_background)
            self.spawn(self._prune_loop())
            self.spawn(self._rule_loop())
            self.spawn(self._escalation_loop())
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

    async def _open_store(self) -> bool:
        """Open the store; retry with backoff while the failure is one waiting can fix.
        False when a stop was requested meanwhile."""
        attempt = 0
        while True:
            try:
                await self.store.open()
                return True
            except StoreError as exc:
                if not exc.transient:
                    raise
                attempt += 1
                delay = retry_delay(attempt)
                log.warning("store_unavailable", reason=str(exc), attempt=attempt, retry_in=delay)
            await sleep_or_wake(self.clock, self._stop, delay)
            if self._stop.is_set():
                return False

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
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

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
            new, problems = await self._load_again()
            if new is None:
                self.metrics.config_reload_successful.set(0)
                problems = [self.redactor.scrub(p) for p in problems]
                log.error("config_reload_failed", problems=problems)
                return problems
            self.alerts.ack_key = await self._ack_key(new)
            old = self.armed
            self._switch_to(new)
            await self._close_probes(p for name, p in old.items() if self.armed.get(name) is not p)
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

    async def _load_again(self) -> tuple[Config | None, list[str]]:
        """Parse the file in a worker thread (a hostile file must not stall the loop):
        the new config, or None and the problems. An unexpected error is reported by
        its type only: its message may quote the file."""
        try:
            return await asyncio.to_thread(load, self.settings, self.env), []
        except ConfigError as exc:
            return None, list(exc.problems) or [f"{self.settings.config}: invalid"]
        except Exception as exc:
            return None, [f"{self.settings.config}: cannot load ({type(exc).__name__})"]

    # -- wiring --------------------------------------------------------------

    def _arm(self, config: Config) -> None:
        factories = registry()
        armed: dict[str, Armed] = {}
        unsupported: dict[str, str] = {}
        for check in config.checks:
            previous = self.armed.get(check.name)
            if previous is not None and previous.check == check:
                armed[check.name] = previous  # unchanged: keep its probe and pooled connections
                continue
            factory = factories.get(check.type)
            if factory is None:
                unsupported[check.name] = check.type
                continue
            probe = build_probe(factory, check, self.probe_context)
            if isinstance(probe, Unbuildable):
                log.error("probe_unbuildable", check=check.name, reason=probe.reason)
            armed[check.name] = Armed(check, check.type, probe)
        self.armed, self.unsupported = armed, unsupported
        self.runner.arm(armed)
        self.latest.retain(set(armed))
        self.recent.retain(set(armed))
        if self.sharing is not None:
            self.sharing.configure(armed)  # a cluster member schedules its share only
        else:
            self.scheduler.schedule((name, a.check.interval) for name, a in armed.items())
        self.metrics.checks_configured.clear()
        for check in config.checks:
            supported = "true" if check.name in armed else "false"
            self.metrics.checks_configured.labels(check.type, supported).inc()
        for name, kind in unsupported.items():
            log.warning("probe_type_unavailable", check=name, type=kind)

    def _share(self, membership: ClusterMembership) -> Sharing:
        """A cluster member (docs/scaling.md, "Checks across members"): the scheduler gets
        this member's share of the checks, re-cut whenever the live members change; runs
        of checks probed from several places become views, combined by their primary."""
        sharing = Sharing(
            membership.me.id,
            membership.me.location,
            self.store,
            self.clock,
            schedule=self.scheduler.schedule,
            deliver=self.runner.deliver,
            adopt=self._adopt_checks,
            release=self.rules.release,
            on_share=self._shared,
        )
        self.sharing = sharing
        self.runner.divert = sharing.divert
        self.rules.attach(sharing.alerts)
        membership.owned = lambda: len(sharing.ownership.assignment.probes)
        membership.subscribe(lambda: sharing.rebalance(membership.live()))
        sharing.rebalance(membership.live())
        self.spawn(sharing.run())
        return sharing

    async def _adopt_checks(self, checks: frozenset[str]) -> None:
        """Checks now fed by this member: their saved alert states (a pending ``for``)."""
        try:
            await self.node.adopt_checks(self.rules, self.store, sorted(checks))
        except StoreError as exc:
            log.warning("cluster_adopt_checks_failed", checks=len(checks), error=str(exc))

    def _shared(self, counts: Mapping[str, int], moved: bool) -> None:
        assert self.sharing is not None
        self.rules.scope(self.sharing.fed)
        self.node.owned_checks = dict(counts)
        self.metrics.cluster_owned_checks.clear()
        for member, n in counts.items():
            self.metrics.cluster_owned_checks.labels(member).set(n)
        if moved:
            self.metrics.cluster_rebalances.inc()

    def _configure_channels(self, config: Config) -> None:
        """One notifier per channel; an unchanged channel keeps its notifier."""
        assert self._notify_session is not None
        opts = (config.notifications.templates, config.notifications.timeout)
        same_opts = opts == self._channel_opts
        self._channel_opts = opts
        deps = NotifierDeps(
            self._notify_session,
            Renderer(Path(opts[0]) if opts[0] else None),
            lambda: self.clock.now().timestamp(),
            config.notifications.timeout,
        )
        built: dict[str, tuple[Channel, Notifier]] = {}
        for name, channel in config.channels.items():
            previous = self.notifiers.get(name)
            if previous is not None and previous[0] == channel and same_opts:
                built[name] = previous
                continue
            built[name] = (
                channel,
                build_notifier(name, channel, deps),
            )
        self.notifiers = built
        retired = self.dispatcher.configure(
            {name: (ch.type, n) for name, (ch, n) in built.items()}, config.notifications
        )
        if retired:
            self.spawn(self._close_notifiers(retired))

    async def _close_notifiers(self, notifiers: Iterable[Notifier]) -> None:
        for n in list(notifiers):
            try:
                await n.close()
            except Exception as exc:
                log.warning("notifier_close_failed", error=type(exc).__name__)

    async def _ack_key(self, config: Config) -> bytes:
        """server.ack_secret, or a random key made once and kept in the store."""
        if config.server.ack_secret is not None and config.server.ack_secret.get_secret_value():
            return config.server.ack_secret.get_secret_value().encode()
        kept = await self.store.set_key_once("ack_secret", secrets.token_hex(32))
        return kept.encode()

    async def _close_probes(self, armed: Iterable[Armed]) -> None:
        for a in list(armed):
            try:
                await a.probe.close()
            except Exception as exc:
                log.warning("probe_close_failed", check=a.check.name, error=type(exc).__name__)

    async def _serve(self) -> None:
        app = create_app(self.facade, self.metrics)
        self._web = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._web.setup()
        host, port = split_listen(self.config.server.listen)
        site = web.TCPSite(self._web, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._web.cleanup()
            reason = os.strerror(exc.errno).lower() if exc.errno else type(exc).__name__
            raise StartError(f"cannot listen on {self.config.server.listen}: {reason}") from None
        self.listening = [(str(a[0]), int(a[1])) for a in self._web.addresses]

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        """A background task ended: an error is logged now, not "never retrieved" later."""
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            name = getattr(task.get_coro(), "__qualname__", task.get_name())
            log.error("background_task_failed", task=name, error=type(exc).__name__, exc_info=exc)

    def _watchdog(self) -> Watchdog:
        assert self._notify_session is not None
        return Watchdog(
            lambda: self.config.watchdog,
            self._health,
            self.clock,
            self._notify_session,
            self.metrics,
        )

    def _health(self) -> Observations:
        age = self.scheduler.last_tick_age()
        return Observations(
            scheduler_running=self.scheduler.running,
            last_tick=None if age is None else self.clock.monotonic() - age,
            store_failing=self.writer.failing,
            dead_lanes=self.dispatcher.dead_lanes(),
        )

    async def _prune_loop(self) -> None:
        while True:
            cutoff = self.clock.now().timestamp() - self.config.storage.history
            try:
                removed = await self.store.prune_results(
                    datetime.fromtimestamp(cutoff, self.clock.now().tzinfo)
                )
                if removed:
                    log.info("history_pruned", rows=removed)
            except Exception as exc:
                log.warning("history_prune_failed", error=type(exc).__name__)
            await self.clock.sleep(PRUNE_EVERY)

    def _observe(self, result: Result) -> None:
        self._announce(self.rules.observe(result, self.clock.now()))

    async def _rule_loop(self) -> None:
        while True:
            await self.clock.sleep(RULE_TICK)
            self._announce(self.rules.tick(self.clock.now()))

    def _announce(self, transitions: list[Transition]) -> None:
        """Alert transitions: logged now, then persisted and acted on by the alert shell."""
        for t in transitions:
            inst = t.instance
            log.warning(
                f"alert_{t.event}",
                rule=inst.rule,
                check=inst.check,
                labels=dict(inst.labels),
                severity=t.severity,
                value=inst.value,
                fingerprint=inst.fingerprint,
                suppressed=self.alerts.quiet(inst) if t.event != "resolved" else None,
            )
            self.spawn(self.alerts.accept(t))
            due = self.alerts.due_at(t)
            if due is not None:
                self.spawn(self._fire_when_due(inst.rule, inst.check, due))

    async def _fire_when_due(self, rule: str, check: str, due: float) -> None:
        """Evaluate a pending alert the moment its ``for`` elapses (results may be an
        interval apart: waiting for the next one would page up to an interval late)."""
        await self.clock.sleep(max(0.0, due - self.clock.now().timestamp()))
        self._announce(self.rules.evaluate_pair(rule, check, self.clock.now()))

    async def _send_report(self, name: str, targets: Sequence[str], notice: Notice) -> None:
        if not self.node.membership.leader:
            return  # in a cluster the leader sends scheduled reports
        await self.escalator.announce(f"report:{name}", notice, targets)

    async def _escalation_loop(self) -> None:
        """Escalation steps, repeats and ack expiry, each second or at once on a firing."""
        while True:
            self._kick.clear()
            try:
                await self.escalator.tick(self.alerts.live())
            except Exception as exc:
                log.error("escalation_failed", error=type(exc).__name__)
            await sleep_or_wake(self.clock, self._kick, ESCALATION_TICK)

    def _alert_counts(self) -> list[tuple[str, str]]:
        return [(i.state.state, self.alerts.severity(i)) for i in self.rules.active()]

    @property
    def ack_key(self) -> bytes:
        return self.alerts.ack_key

    def status(self) -> dict[str, Any]:
        """The status of every check and alert (what ``GET /api/v1/status`` answers)."""
        return self.facade.status()

    def _store_failed(self, exc: BaseException) -> None:
        self.metrics.store_write_failures.inc()
        log.warning("store_write_failed", error=type(exc).__name__, pending=self.writer.pending)
