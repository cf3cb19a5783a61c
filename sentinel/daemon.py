"""Wiring: every stage built from config, started, reloaded on SIGHUP, stopped on SIGTERM.

This is the only module that knows all the others. Data flows one way:
scheduler -> runner (probe -> Result) -> sinks (latest results, metrics,
history writer, rules) -> transitions -> escalation -> outbox -> dispatcher.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import os
import secrets
import signal
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from sentinel import __version__, views
from sentinel.clock import Clock, sleep_or_wake
from sentinel.config import (
    Config,
    ConfigError,
    load_config,
    secret_values,
    split_listen,
)
from sentinel.config.checks import HeartbeatCheck
from sentinel.config.models import Channel
from sentinel.escalation.escalator import Escalator, Live
from sentinel.escalation.facts import alert_facts
from sentinel.escalation.targets import who_is_on_call
from sentinel.heartbeats import HeartbeatBook, PingKind
from sentinel.logs import Redactor
from sentinel.metrics import Metrics
from sentinel.notify import build_notifier
from sentinel.notify.acklink import check_token, make_token
from sentinel.notify.base import AlertFacts, Notice, Notifier
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.render import Renderer
from sentinel.probes import ProbeContext, registry
from sentinel.probes.unbuildable import Unbuildable, build_probe
from sentinel.report_schedule import ReportScheduler
from sentinel.results import LatestResults, RecentRuns, Result
from sentinel.rules.engine import Instance, RuleEngine, Transition
from sentinel.rules.routing import alert_labels, why_quiet
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.runner import Armed, CheckRunner
from sentinel.scheduler import Scheduler
from sentinel.settings import Settings, settings_problems
from sentinel.silences import Silence, silence_from_request
from sentinel.store import Store, StoreError, open_store
from sentinel.store.writer import ResultWriter
from sentinel.watchdog import Observations, Watchdog
from sentinel.web.app import create_app

log = structlog.get_logger("sentinel.daemon")
PRUNE_EVERY = 3600.0
RULE_TICK = 5.0  # re-evaluate every rule this often, for transitions between results
ESCALATION_TICK = 1.0  # escalation steps fall due between transitions
FOR_MARGIN = 0.005  # past a `for` deadline: uvloop's clock has millisecond resolution
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


def apply_settings(config: Config, settings: Settings) -> Config:
    """Environment settings win over the file where both speak."""
    problems = settings_problems(settings)
    if problems:
        raise ConfigError(problems)
    server, storage = config.server, config.storage
    if settings.listen:
        server = server.model_copy(update={"listen": settings.listen})
    if settings.storage_url is not None:
        storage = storage.model_copy(update={"url": settings.storage_url})
    return config.model_copy(update={"server": server, "storage": storage})


def load(settings: Settings, env: Mapping[str, str]) -> Config:
    return apply_settings(load_config(settings.config, env), settings)


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
        self.clock = clock
        self.env = env
        self.redactor = redactor
        self.latest = LatestResults()
        self.recent = RecentRuns()
        self.registry = registry_ or CollectorRegistry()
        self.metrics = Metrics(self.registry, self.latest, __version__)
        self.heartbeats = HeartbeatBook(watching_since=clock.now())
        self.probe_context = ProbeContext(clock=clock, heartbeats=self.heartbeats)
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
        self.reports = ReportScheduler(config, self.store, clock, self._send_report)
        self.notifiers: dict[str, tuple[Channel, Notifier]] = {}
        self._notify_session: aiohttp.ClientSession | None = None
        self._kick = asyncio.Event()
        self.ack_key = b""
        self.armed: dict[str, Armed] = {}
        self.check_named = {c.name: c for c in config.checks}
        self.silences: list[Silence] = []
        self.unsupported: dict[str, str] = {}
        self.started_at: datetime = clock.now()
        self._stop = asyncio.Event()
        self._web: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._channel_opts: tuple[str | None, float] | None = None
        self.listening: list[tuple[str, int]] = []
        self._opened = AsyncExitStack()
        self._reloading = asyncio.Lock()

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
            self.silences = await self.store.load_silences()
            self.ack_key = await self._ack_key(self.config)
            await self.escalator.restore()
            self._notify_session = aiohttp.ClientSession()
            opened.push_async_callback(self._notify_session.close)
            opened.push_async_callback(
                lambda: self._close_notifiers(n for _, n in self.notifiers.values())
            )
            self._configure_channels(self.config)
            await self.dispatcher.start()
            opened.push_async_callback(self.dispatcher.stop)
            opened.push_async_callback(self.probe_context.close)
            opened.push_async_callback(lambda: self._close_probes(self.armed.values()))
            self._arm(self.config)
            self.scheduler.start()
            opened.push_async_callback(self._stop_scheduler)
            await self._serve()
            opened.push_async_callback(self._stop_background)
            self._spawn(self._prune_loop())
            self._spawn(self._rule_loop())
            self._spawn(self._escalation_loop())
            self._spawn(self.reports.run())
            self._spawn(self._watchdog().run())
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
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
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
            self.ack_key = await self._ack_key(new)
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
        self.check_named = {c.name: c for c in config.checks}
        self.runner.arm(armed)
        self.latest.retain(set(armed))
        self.recent.retain(set(armed))
        self.scheduler.schedule((name, a.check.interval) for name, a in armed.items())
        self.metrics.checks_configured.clear()
        for check in config.checks:
            supported = "true" if check.name in armed else "false"
            self.metrics.checks_configured.labels(check.type, supported).inc()
        for name, kind in unsupported.items():
            log.warning("probe_type_unavailable", check=name, type=kind)

    def _configure_channels(self, config: Config) -> None:
        """One notifier per channel; an unchanged channel keeps its notifier."""
        assert self._notify_session is not None
        opts = (config.notifications.templates, config.notifications.timeout)
        same_opts = opts == self._channel_opts
        self._channel_opts = opts
        renderer = Renderer(Path(opts[0]) if opts[0] else None)
        built: dict[str, tuple[Channel, Notifier]] = {}
        for name, channel in config.channels.items():
            previous = self.notifiers.get(name)
            if previous is not None and previous[0] == channel and same_opts:
                built[name] = previous
                continue
            built[name] = (
                channel,
                build_notifier(
                    name,
                    channel,
                    self._notify_session,
                    renderer,
                    lambda: self.clock.now().timestamp(),
                    timeout=config.notifications.timeout,
                ),
            )
        self.notifiers = built
        retired = self.dispatcher.configure(
            {name: (ch.type, n) for name, (ch, n) in built.items()}, config.notifications
        )
        if retired:
            self._spawn(self._close_notifiers(retired))

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
        app = create_app(self, self.metrics)
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

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
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
        """Alert transitions: logged now; notifications come with escalation (issue 5)."""
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
                suppressed=self._quiet(inst) if t.event != "resolved" else None,
            )
            if t.event in ("pending", "firing", "resolved", "cleared"):
                self._spawn(self._keep_alert(t))
            if t.event == "pending":
                rule = self.rules.rule(inst.rule, inst.check)
                if rule is not None and rule.for_ > 0:
                    self._spawn(self._fire_when_due(inst.rule, inst.check, t.at + rule.for_))
            elif t.event == "flapping" and self._quiet(inst) is None:
                rule = self.rules.rule(inst.rule, inst.check)
                self._spawn(
                    self.escalator.flapping(
                        self._facts(inst), rule.escalation if rule is not None else None
                    )
                )

    async def _fire_when_due(self, rule: str, check: str, due: float) -> None:
        """Evaluate a pending alert the moment its ``for`` elapses (results may be an
        interval apart: waiting for the next one would page up to an interval late)."""
        await self.clock.sleep(max(0.0, due - self.clock.now().timestamp()) + FOR_MARGIN)
        self._announce(self.rules.evaluate_pair(rule, check, self.clock.now()))

    async def _keep_alert(self, t: Transition) -> None:
        """Alert state goes to the store at each transition, so a restart resumes it;
        only then do its notifications go to the outbox."""
        try:
            if t.event in ("pending", "firing"):
                await self.store.save_alert(t.instance)
            else:
                await self.store.delete_alert(t.instance.fingerprint)
        except Exception as exc:
            log.error(
                "alert_save_failed", fingerprint=t.instance.fingerprint, error=type(exc).__name__
            )
        if t.event == "firing":
            self._kick.set()
        elif t.event == "resolved":
            try:
                await self.escalator.resolved(t.instance.fingerprint)
            except Exception as exc:
                log.error(
                    "escalation_failed",
                    fingerprint=t.instance.fingerprint,
                    error=type(exc).__name__,
                )

    async def _send_report(self, name: str, targets: Sequence[str], notice: Notice) -> None:
        await self.escalator.announce(f"report:{name}", notice, targets)

    async def _escalation_loop(self) -> None:
        """Escalation steps, repeats and ack expiry, each second or at once on a firing."""
        while True:
            self._kick.clear()
            try:
                await self.escalator.tick(self._live())
            except Exception as exc:
                log.error("escalation_failed", error=type(exc).__name__)
            await sleep_or_wake(self.clock, self._kick, ESCALATION_TICK)

    def _live(self) -> dict[str, Live]:
        firing = [i for i in self.rules.active() if i.state.state == "firing"]
        if not firing:
            return {}
        down, all_firing = self._down(), self._firing()
        live = {}
        for inst in firing:
            rule = self.rules.rule(inst.rule, inst.check)
            live[inst.fingerprint] = Live(
                facts=self._facts(inst),
                quiet=self._quiet(inst, down, all_firing),
                flapping=(inst.rule, inst.check) in self.rules.flapping,
                policy=rule.escalation if rule is not None else None,
            )
        return live

    def _facts(self, inst: Instance) -> AlertFacts:
        fp = inst.fingerprint
        result = self.latest.get(inst.check)
        oncall = who_is_on_call(self.config, self.clock.now())
        return alert_facts(
            fingerprint=fp,
            rule=self.rules.rule(inst.rule, inst.check),
            rule_name=inst.rule,
            check=inst.check,
            labels=self._alert_labels(inst),
            value=inst.value,
            error=result.error if result is not None else None,
            fired_at=inst.state.fired_at,
            ack_url=self.ack_url(fp, inst.state.fired_at),
            oncall=next(iter(oncall.values()), None),
        )

    def ack_url(self, fingerprint: str, fired_at: float | None) -> str | None:
        """A signed link that acknowledges this firing without the API token, while valid."""
        base = self.config.server.external_url
        if not base:
            return None
        expires = self.clock.now().timestamp() + self.config.server.ack_link_ttl
        token = make_token(fingerprint, fired_at, expires, self.ack_key)
        return f"{base.rstrip('/')}/ack/{fingerprint}/{token}"

    def _down(self) -> set[str]:
        return {name for name, result in self.latest.items() if not result.ok}

    def _alert_labels(self, inst: Instance) -> dict[str, str]:
        check = self.check_named.get(inst.check)
        return alert_labels(
            inst.rule,
            inst.check,
            inst.labels,
            check.labels if check is not None else {},
            self.rules.rule(inst.rule, inst.check),
        )

    def _quiet(
        self,
        inst: Instance,
        down: set[str] | None = None,
        firing: list[tuple[str, dict[str, str]]] | None = None,
    ) -> str | None:
        """Why this alert is suppressed now (dependency, maintenance, silence, inhibition)."""
        check = self.check_named.get(inst.check)
        return why_quiet(
            self.config,
            inst.check,
            check.labels if check is not None else {},
            self._alert_labels(inst),
            inst.fingerprint,
            self.clock.now(),
            self._down() if down is None else down,
            self.silences,
            self._firing if firing is None else lambda: firing,
        )

    def _firing(self) -> list[tuple[str, dict[str, str]]]:
        return [
            (i.fingerprint, self._alert_labels(i))
            for i in self.rules.active()
            if i.state.state == "firing"
        ]

    def _alert_counts(self) -> list[tuple[str, str]]:
        return [(i.state.state, self._severity(i)) for i in self.rules.active()]

    def _severity(self, inst: Instance) -> str:
        rule = self.rules.rule(inst.rule, inst.check)
        return rule.severity if rule is not None else "high"

    def _store_failed(self, exc: BaseException) -> None:
        self.metrics.store_write_failures.inc()
        log.warning("store_write_failed", error=type(exc).__name__, pending=self.writer.pending)

    # -- what the web app reads and writes ----------------------------------

    def api_token(self) -> str | None:
        token = self.config.server.api_token
        return token.get_secret_value() if token is not None and token.get_secret_value() else None

    def list_silences(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [dict(s.to_json(), active=s.active(now)) for s in self.silences if s.ends_at > now]

    async def add_silence(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new silence from the API; ValueError with a reason for bad input."""
        silence = silence_from_request(body, self.clock.now())
        await self.store.save_silence(silence)
        self.silences.append(silence)
        log.info(
            "silence_created",
            id=silence.id,
            author=silence.author,
            matchers=silence.matchers,
            ends_at=silence.ends_at.isoformat(),
        )
        return silence.to_json()

    async def expire_silence(self, silence_id: str) -> bool:
        now = self.clock.now()
        for i, silence in enumerate(self.silences):
            if silence.id == silence_id and silence.ends_at > now:
                expired = replace(silence, ends_at=now)
                await self.store.save_silence(expired)
                self.silences[i] = expired
                log.info("silence_expired", id=silence_id)
                return True
        return False

    async def ping(self, name: str, kind: PingKind, key: str | None) -> tuple[int, str]:
        """A push from a job: record it, keep it, and re-judge the heartbeat at once."""
        check = next(
            (c for c in self.config.checks if c.name == name and isinstance(c, HeartbeatCheck)),
            None,
        )
        if check is None:
            return 404, "unknown heartbeat"
        if check.key is not None and not hmac.compare_digest(
            (key or "").encode(), check.key.get_secret_value().encode()
        ):
            return 403, "wrong or missing key"
        beat = self.heartbeats.ping(name, kind, self.clock.now())
        log.info("heartbeat_ping", check=name, kind=kind)
        try:
            await self.store.save_heartbeat(name, beat)
        except Exception as exc:
            log.error("heartbeat_save_failed", check=name, error=type(exc).__name__)
            return 503, "recorded but not stored; retry"
        if name in self.armed:
            self._spawn(self.runner.run(name))
        return 200, "OK"

    def find_alert(self, ref: str) -> str | None:
        """The fingerprint a reference names: the whole id or a unique prefix of 6+ chars."""
        ref = ref.strip().lower()
        if len(ref) < 6:
            return None
        known = {i.fingerprint for i in self.rules.active()} | set(self.escalator.progress)
        found = [fp for fp in known if fp.startswith(ref)]
        return found[0] if len(found) == 1 else None

    async def acknowledge(self, ref: str, by: str) -> dict[str, Any] | None:
        """Acknowledge a firing alert; None when no escalating alert has that id."""
        fp = self.find_alert(ref)
        if fp is None or not await self.escalator.acknowledge(fp, by):
            return None
        return self.alert(fp)

    async def unacknowledge(self, ref: str) -> dict[str, Any] | None:
        fp = self.find_alert(ref)
        if fp is None or not await self.escalator.unacknowledge(fp):
            return None
        return self.alert(fp)

    def check_ack_link(self, fingerprint: str, token: str) -> bool | str:
        """The link must name the alert's current firing (a link of an earlier outage
        never acknowledges a later one)."""
        inst = next((i for i in self.rules.active() if i.fingerprint == fingerprint), None)
        fired = inst.state.fired_at if inst is not None else None
        now = self.clock.now().timestamp()
        return check_token(fingerprint, token, self.ack_key, now, fired)

    def alert(self, ref: str) -> dict[str, Any] | None:
        fp = self.find_alert(ref)
        return next((a for a in self.status()["alerts"] if a["fingerprint"] == fp), None)

    async def uptime_bars(
        self, days: int = 90, checks: list[str] | None = None
    ) -> dict[str, list[float | None]]:
        return await views.uptime_bars(self.store, self.clock.now(), days, checks)

    def maintenance(self) -> list[dict[str, Any]]:
        return views.maintenance_view(self.config, self.clock.now())

    def oncall_now(self) -> list[dict[str, Any]]:
        return views.oncall_view(self.config, self.clock.now())

    def redacted_config(self) -> dict[str, Any]:
        return views.redacted_config(self.config)

    def readiness(self) -> dict[str, Any]:
        age = self.scheduler.last_tick_age()
        running = self.scheduler.running
        fresh = age is not None and age < 10.0
        return {
            "ready": running and fresh,
            "config_loaded": True,
            "scheduler_running": running,
            "last_tick_age_seconds": None if age is None else round(age, 3),
        }

    async def store_reachable(self) -> bool:
        return bool(await self.store.ping())

    def status(self) -> dict[str, Any]:
        checks = [
            views.check_entry(c, self.latest.get(c.name), c.name in self.unsupported)
            for c in self.config.checks
        ]
        counts = {"up": 0, "down": 0, "pending": 0, "unsupported": 0}
        for entry in checks:
            counts[entry["state"]] += 1
        down, firing = self._down(), self._firing()
        alerts = [
            views.alert_entry(
                i,
                self._alert_labels(i),
                self._severity(i),
                self._quiet(i, down, firing),
                (i.rule, i.check) in self.rules.flapping,
                self.escalator.progress.get(i.fingerprint),
            )
            for i in self.rules.active()
        ]
        lanes = self.dispatcher.lanes()
        channels = [
            {
                "name": name,
                "type": channel.type,
                "broken": self.dispatcher.broken.get(name),
                "pending": len(lanes.get(name, [])),
            }
            for name, (channel, _) in self.notifiers.items()
        ]
        return {
            "version": __version__,
            "started_at": self.started_at.isoformat(),
            "summary": counts,
            "checks": checks,
            "alerts": alerts,
            "channels": channels,
        }
