"""The daemon's background work: the set of tasks it spawns (an error is logged when
a task ends, not "never retrieved" later), and the loops it runs: history pruning,
the rule tick, escalation, and alert transitions announced as results arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import structlog

from sentinel.app.alerts import RULE_TICK, Alerts
from sentinel.clock import Clock, sleep_or_wake
from sentinel.escalation.escalator import Escalator
from sentinel.probes.results import Result
from sentinel.rules.engine import RuleEngine, Transition
from sentinel.store import Store

log = structlog.get_logger("sentinel.daemon")
PRUNE_EVERY = 3600.0
ESCALATION_TICK = 1.0  # escalation steps fall due between transitions

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class Background:
    """The tasks the daemon runs beside its parts; cancelled together at stop."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        """A background task ended: an error is logged now, not "never retrieved" later."""
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            name = getattr(task.get_coro(), "__qualname__", task.get_name())
            log.error("background_task_failed", task=name, error=type(exc).__name__, exc_info=exc)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Announcer:
    """Alert transitions, from results and from the rule tick: logged now, then
    persisted and acted on by the alert shell (``alerts.accept``)."""

    def __init__(self, rules: RuleEngine, alerts: Alerts, clock: Clock, spawn: Spawn) -> None:
        self.rules = rules
        self.alerts = alerts
        self.clock = clock
        self.spawn = spawn

    def observe(self, result: Result) -> None:
        self.announce(self.rules.observe(result, self.clock.now()))

    async def rule_loop(self) -> None:
        while True:
            await self.clock.sleep(RULE_TICK)
            self.announce(self.rules.tick(self.clock.now()))

    def announce(self, transitions: list[Transition]) -> None:
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
        self.announce(self.rules.evaluate_pair(rule, check, self.clock.now()))


async def prune_loop(store: Store, clock: Clock, history: Callable[[], float]) -> None:
    """Drop results older than ``history()`` seconds (the current config's), hourly."""
    while True:
        cutoff = clock.now().timestamp() - history()
        try:
            removed = await store.prune_results(datetime.fromtimestamp(cutoff, clock.now().tzinfo))
            if removed:
                log.info("history_pruned", rows=removed)
        except Exception as exc:
            log.warning("history_prune_failed", error=type(exc).__name__)
        await clock.sleep(PRUNE_EVERY)


async def escalation_loop(
    escalator: Escalator, alerts: Alerts, clock: Clock, kick: asyncio.Event
) -> None:
    """Escalation steps, repeats and ack expiry, each second or at once on a firing."""
    while True:
        kick.clear()
        try:
            await escalator.tick(alerts.live())
        except Exception as exc:
            log.error("escalation_failed", error=type(exc).__name__)
        await sleep_or_wake(clock, kick, ESCALATION_TICK)
