"""``sentinel simulate``: replay a scenario on a fake clock and say who would be told what, when.

The real pieces run: the rule engine, routing (dependencies, maintenance,
inhibition, silences), the escalator with an in-memory store, and the
dispatcher with its rate limits and storm digests. Only the notifiers are
stand-ins: they record each notice and answer "accepted". Nothing leaves the
process.

    scenario.load_scenario(path) -> Scenario     or raises ScenarioError
    await simulate(config, scenario)             -> the timeline, one line per entry

Only the checks a scenario names produce results (one each ``interval``,
from the start); the others are left out, so the output holds the alerts the
scenario causes and nothing else. See docs/escalation.md, "Trying it out".

Alerts go through the daemon's own alert shell (:mod:`sentinel.app.alerts`):
persisted, routed and escalated the same way. The module runs past 400 lines
because the replay loop and the timeline it writes are one class: both read
the same state (deadlines, what fired, what was quiet when).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from prometheus_client import CollectorRegistry

from sentinel import __version__
from sentinel.app.alerts import RULE_TICK, Alerts
from sentinel.clock import FakeClock
from sentinel.config import Config, format_duration
from sentinel.config.cron import crontab
from sentinel.config.slo import Slo
from sentinel.escalation import policy as pol
from sentinel.escalation.escalator import Escalator, Live
from sentinel.metrics import Metrics
from sentinel.notify import pace
from sentinel.notify.base import Notice, Notifier, Sent
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.outbox import Delivery
from sentinel.probes.results import Labels, LatestResults, Result, Sample, sample_key
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance, RuleEngine, Transition
from sentinel.rules.slo_engine import PREFIX as SLO_PREFIX
from sentinel.rules.slo_engine import SloEngine
from sentinel.simulate.scenario import (
    Event,
    Scenario,
    ScenarioError,
    problems,
)
from sentinel.store.sqlite import SqliteStore

__all__ = ["simulate"]

DURATION = 0.05  # every simulated result takes 50 ms
SLO_TICK = 60.0  # SLO pairs are evaluated each minute (their counters' resolution)
EPS = 1e-6
OVERSHOOT = 1e-7  # below the wall clock's microsecond: see _SimClock.jump
SETTLE_POLLS = 2000  # x 5 ms: how long (real time) to wait for the dispatcher's store I/O


# -- the simulation ----------------------------------------------------------


class _SimClock(FakeClock):
    def next_wake(self) -> float | None:
        """The monotonic deadline of the earliest task sleeping on this clock."""
        return min((d for d, _, fut in self._sleepers if not fut.done()), default=None)

    async def jump(self, seconds: float) -> bool:
        """:meth:`advance`, a hair further (a sleeper due at the target wakes despite
        rounding; the wall clock keeps whole microseconds), and without yielding to
        the loop when nobody sleeps until then. True when a sleeper woke."""
        seconds += OVERSHOOT
        wake = self.next_wake()
        if wake is None or wake > self.monotonic() + seconds:
            self._move_to(self.monotonic() + seconds)
            return False
        await self.advance(seconds)
        return True


@dataclass
class _Recorder:
    """A notifier that sends nothing: it records the notice and says it was accepted."""

    name: str
    kind: str
    clock: FakeClock
    sent: list[tuple[float, str, str, str | None, str, str, str]]
    min_interval: float = 0.0
    digest: bool = True

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        at = self.clock.now().timestamp()
        for alert in notice.alerts or ((notice.alert,) if notice.alert else ()):
            self.sent.append(
                (at, self.name, self.kind, address, notice.kind, alert.rule, alert.check)
            )
        return Sent()

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _QuietContext:
    now: datetime
    down: frozenset[str]  # checks whose latest result failed
    phase: int  # how many maintenance edges have passed
    silences: tuple[str, ...]  # the active ones
    firing: tuple[tuple[str, dict[str, str]], ...]  # (fingerprint, labels) of firing alerts


@dataclass
class _CheckState:
    interval: float
    runs: int = 0  # results produced so far: the next is due at runs * interval
    fail: str | None = None
    share: float = 1.0  # of the runs that fail while ``fail`` is set
    failed: int = 0  # runs failed since ``fail`` was set
    since: int = 0  # runs made since ``fail`` was set
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)


class _Simulation:
    def __init__(self, config: Config, scenario: Scenario) -> None:
        self.config = config
        self.scenario = scenario
        self.clock = _SimClock(scenario.start)
        self.mono0 = self.clock.monotonic()
        self.start_ts = scenario.start.timestamp()
        named = {e.check for e in scenario.events if e.check is not None}
        watched = [c for c in config.checks if c.name in named]
        self.checks = {c.name: _CheckState(c.interval) for c in watched}
        self.types = {c.name: c.type for c in watched}
        self.latest = LatestResults()
        self.engine = RuleEngine()
        self.slos = SloEngine()
        self.engine.attach(self.slos)
        self.engine.configure(config.model_copy(update={"checks": watched}))
        # The checks were healthy before the start: each SLO's windows begin full of
        # good runs of the checks it covers (a ratio SLO, whose event counts are unknown,
        # starts empty and judges each pair once its long window is covered).
        self.slos.seed(
            scenario.start,
            {
                slo.name: round(sum(60 / c.interval for c in watched if self._covers(slo, c.name)))
                for slo in self.slos.slos
                if slo.indicator != "ratio"
            },
        )
        probe = RuleEngine()  # do any rules need the tick with nothing live?
        probe.configure(config.model_copy(update={"checks": watched}))
        probe.tick(self.clock.now())
        self.silent_rules = probe.evaluations > 0
        self.store = SqliteStore(":memory:")
        self.metrics = Metrics(CollectorRegistry(), LatestResults(), __version__)
        self.dispatcher = Dispatcher(
            self.store, self.clock, self.metrics, config.notifications, jitter=lambda: 0.5
        )
        self.sent: list[tuple[float, str, str, str | None, str, str, str]] = []
        recorders: dict[str, tuple[str, Notifier]] = {
            name: (
                ch.type,
                _Recorder(name, ch.type, self.clock, self.sent, *pace(ch.type)),
            )
            for name, ch in config.channels.items()
        }
        self.dispatcher.configure(recorders, config.notifications)
        self.dispatcher.on_sent.append(self._on_sent)
        self.escalator = Escalator(config, self.store, self.dispatcher, self.clock, self.metrics)
        # the daemon's alert shell: the same persistence, routing and escalation
        self.alerts = Alerts(
            config,
            self.engine,
            self.latest,
            self.store,
            self.escalator,
            self.clock,
            ack_links=False,
        )
        self.silences = self.alerts.silences
        self.edges = sorted(
            {*_maintenance_edges(config, scenario.start, scenario.until)}
        )  # when a maintenance window starts or ends
        self.quiet_seen: dict[str, str | None] = {}
        self.fired: dict[str, float] = {}  # fingerprint -> unix time it fired
        self.names: dict[str, str] = {}  # fingerprint -> rule, check and labels, as printed
        self.quiet_cache: dict[tuple[Any, ...], str | None] = {}
        self.entries: list[tuple[float, tuple[int, int], str]] = []
        self.digests: dict[tuple[float, str, str | None], list[Delivery]] = {}
        self.seq = 0
        # (when, rule, check): a pending alert's `for` elapses then, between results; the
        # daemon evaluates the pair at that moment (its _fire_when_due), and so do we.
        self.deadlines: list[tuple[float, str, str]] = []
        # Something may have queued a notice or woken a worker since the last settle: a
        # quiet month of healthy results skips the settling (most of a long replay).
        self.stirred = True

    def _covers(self, slo: Slo, check: str) -> bool:
        return any(s.name == slo.name for s in self.slos.covering(check))

    def _rules_live(self) -> bool:
        """Do any of the rules' own alerts (not the SLOs') need the 5 s tick?"""
        return any(not i.rule.startswith(SLO_PREFIX) for i in self.engine.active())

    # -- the loop ----------------------------------------------------------

    async def run(self) -> None:
        await self.store.open()
        await self.dispatcher.start()
        try:
            events = list(self.scenario.events)
            t = 0.0
            next_rule_tick = RULE_TICK
            while True:
                acks: list[Event] = []
                while events and events[0].at <= t + EPS:
                    e = events.pop(0)
                    if e.ack is None:
                        self._apply(e)
                    else:
                        acks.append(e)  # after the escalation tick: a step due now goes first
                for name, state in self.checks.items():
                    if state.runs * state.interval <= t + EPS:
                        state.runs += 1
                        await self._announce(
                            self.engine.observe(self._result(name, state), self.clock.now())
                        )
                for rule, check in self._due(t):
                    await self._announce(self.engine.evaluate_pair(rule, check, self.clock.now()))
                if next_rule_tick <= t + EPS:
                    next_rule_tick = (math.floor(t / RULE_TICK + EPS) + 1) * RULE_TICK
                    slo_due = self.slos.slos and _on(t, SLO_TICK)
                    if self.silent_rules or self._rules_live() or slo_due:
                        await self._announce(self.engine.tick(self.clock.now()))
                await self._escalate(t)
                for e in acks:
                    await self._ack(e)
                await self._settle()
                nxt = self._next(t, events, next_rule_tick)
                if nxt is None:
                    break
                if await self.clock.jump(max(0.0, nxt - self._elapsed())):
                    self.stirred = True
                await self._settle()
                t = nxt
        finally:
            await self.dispatcher.stop()
            await self.store.close()

    def _next(self, t: float, events: list[Event], next_rule_tick: float) -> float | None:
        """The next moment anything can happen, or None past ``until``."""
        candidates = [s.runs * s.interval for s in self.checks.values()]
        candidates += [due for due, _, _ in self.deadlines]
        if events:
            candidates.append(events[0].at)
        if self.silent_rules or self._rules_live():
            candidates.append(next_rule_tick)
        elif self.slos.slos:  # the next whole minute: SLO pairs only
            candidates.append((math.floor(t / SLO_TICK + EPS) + 1) * SLO_TICK)
        for p in self.escalator.progress.values():
            due = pol.next_due(p)
            if due is not None:
                candidates.append(due - self.start_ts)
        wake = self.clock.next_wake()
        if wake is not None:
            candidates.append(wake - self.mono0)
        candidates += [(s.ends_at.timestamp() - self.start_ts) for s in self.silences]
        edge = bisect.bisect_right(self.edges, t + EPS)
        candidates += self.edges[edge : edge + 1]
        later = [c for c in candidates if c > t + EPS]
        nxt = min(later, default=None)
        if nxt is None or nxt > self.scenario.until + EPS:
            return None
        return nxt

    def _due(self, t: float) -> list[tuple[str, str]]:
        """The (rule, check) pairs whose `for` deadline has come, taken off the list."""
        if not self.deadlines:
            return []
        due = sorted(d for d in self.deadlines if d[0] <= t + EPS)
        self.deadlines = [d for d in self.deadlines if d[0] > t + EPS]
        return [(rule, check) for _, rule, check in due]

    def _elapsed(self) -> float:
        return self.clock.monotonic() - self.mono0

    async def _settle(self) -> None:
        """Wait (real time, bounded) for the dispatcher's sends and their store I/O, then
        let its workers go to sleep, so their wake-up times are known before time moves.
        Nothing to wait for when nothing stirred since the last settle."""
        if not self.stirred and self.dispatcher.idle():
            return
        self.stirred = False
        for _ in range(SETTLE_POLLS):
            if self.dispatcher.idle():
                for _ in range(5):
                    await asyncio.sleep(0)
                if self.dispatcher.idle():
                    return
            await asyncio.sleep(0.005)
        raise RuntimeError("the dispatcher did not settle")

    # -- scenario events ---------------------------------------------------

    def _apply(self, e: Event) -> None:
        """A change to the checks' results, or a new silence."""
        self.stirred = True
        if e.silence is not None:
            now = self.clock.now()
            sid = f"sil-{len(self.silences) + 1}"
            ends = now + timedelta(seconds=e.duration)
            self.silences.append(Silence(sid, e.silence, now, ends, e.by, e.comment, now))
            matchers = ", ".join(f"{k}={v}" for k, v in e.silence.items())
            note = f" ({e.by}: {e.comment})" if e.comment else f" ({e.by})"
            self._say(e.at, f"silence {sid} on {matchers} for {format_duration(e.duration)}{note}")
            return
        assert e.check is not None
        state = self.checks[e.check]
        if e.fail is not None:
            state.fail, state.share, state.failed, state.since = e.fail, e.share, 0, 0
            some = "" if e.share >= 1 else f" ({e.share * 100:g}% of runs)"
            self._say(e.at, f"{e.check}  check fails{some}: {e.fail}")
        elif e.recover:
            state.fail = None
            self._say(e.at, f"{e.check}  check recovers")
        else:
            shown = []
            for name, labels, value in e.samples:
                if value is None:
                    state.samples.pop((name, labels), None)
                else:
                    state.samples[(name, labels)] = value
                shown.append(f"{sample_key(name, labels)}={'-' if value is None else f'{value:g}'}")
            self._say(e.at, f"{e.check}  samples {', '.join(shown)}")

    async def _ack(self, e: Event) -> None:
        self.stirred = True
        firing = [
            i
            for i in self.engine.active()
            if i.rule == e.ack and i.state.state == "firing" and e.check in (None, i.check)
        ]
        what = f"{e.ack} {e.check}" if e.check else f"{e.ack}"
        if not firing:
            self._say(e.at, f"{what}  ack by {e.by}: no firing alert to acknowledge")
            return
        for inst in sorted(firing, key=lambda i: (i.check, i.labels)):
            name = _alert_name(inst)
            progress = self.escalator.progress.get(inst.fingerprint)
            if progress is not None and progress.acked:
                self._say(
                    e.at, f"{name}  ack by {e.by}: already acknowledged by {progress.acked_by}"
                )
            elif await self.escalator.acknowledge(inst.fingerprint, e.by):
                self._say(e.at, f"{name}  acknowledged by {e.by}")
            else:
                self._say(e.at, f"{name}  ack by {e.by}: nobody was paged, nothing to acknowledge")

    def _result(self, name: str, state: _CheckState) -> Result:
        ok = state.fail is None
        if not ok and state.share < 1:  # spread evenly: fail when the share's due
            state.since += 1
            ok = state.failed >= math.floor(state.since * state.share + EPS)
            state.failed += 0 if ok else 1
        samples = [Sample("up", 1.0 if ok else 0.0), Sample("duration_seconds", DURATION)]
        if ok:
            samples += [Sample(n, v, labels) for (n, labels), v in state.samples.items()]
        result = Result(
            check=name,
            type=self.types[name],
            ok=ok,
            started_at=self.clock.now(),
            duration=DURATION,
            error=None if ok else state.fail,
            samples=tuple(samples),
        )
        self.latest.record(result)
        return result

    # -- rules and escalation, as the daemon wires them -------------------

    async def _announce(self, transitions: list[Transition]) -> None:
        if transitions:
            self.stirred = True
        for t in transitions:
            inst = t.instance
            at = t.at - self.start_ts
            due = self.alerts.due_at(t)
            if due is not None:
                self.deadlines.append((due - self.start_ts, inst.rule, inst.check))
            if t.event == "firing":
                self.fired[inst.fingerprint] = t.at
                self.names[inst.fingerprint] = _alert_name(inst)
                quiet = self._quiet(inst)
                self.quiet_seen[inst.fingerprint] = quiet
                note = f", quiet: {quiet}" if quiet else ""
                self._say(at, f"{_alert_name(inst)}  FIRING ({t.severity}{note})")
            elif t.event == "resolved":
                fired = self.fired.pop(inst.fingerprint, inst.state.fired_at)
                lasted = "" if fired is None else f" after {format_duration(round(t.at - fired))}"
                self._say(at, f"{_alert_name(inst)}  RESOLVED{lasted}")
                self.quiet_seen.pop(inst.fingerprint, None)
            elif t.event == "flapping":
                quiet = self._quiet(inst)
                self._say(
                    at,
                    f"{inst.rule} {inst.check}  FLAPPING" + (f" (quiet: {quiet})" if quiet else ""),
                )
            elif t.event == "settled":
                self._say(at, f"{inst.rule} {inst.check}  settled (no longer flapping)")
            await self.alerts.accept(t)  # persisted, then acted on, as in the daemon

    async def _escalate(self, t: float) -> None:
        """The daemon's escalation tick, noting when a firing alert turns quiet or loud.
        With nothing firing and no escalation under way, there is nothing to tick."""
        if not self.escalator.progress and not any(
            i.state.state == "firing" for i in self.engine.active()
        ):
            return
        self.stirred = True
        live = self._live()
        for fp, alert in live.items():
            if fp in self.quiet_seen and self.quiet_seen[fp] != alert.quiet:
                name = self.names.get(fp, f"{alert.facts.rule} {alert.facts.check}")
                if alert.quiet is None:
                    self._say(t, f"{name}  no longer quiet")
                else:
                    self._say(t, f"{name}  quiet: {alert.quiet}")
            self.quiet_seen[fp] = alert.quiet
        await self.escalator.tick(live)

    def _live(self) -> dict[str, Live]:
        context = self._quiet_context()
        return self.alerts.live(lambda inst: self._quiet(inst, context))

    def _quiet_context(self) -> _QuietContext:
        """What an alert's quiet reason depends on besides the alert itself."""
        now = self.clock.now()
        elapsed = now.timestamp() - self.start_ts
        firing = tuple(self.alerts.firing())
        return _QuietContext(
            now=now,
            down=frozenset(name for name, r in self.latest.items() if not r.ok),
            phase=bisect.bisect_right(self.edges, elapsed + EPS),
            silences=tuple(s.id for s in self.silences if s.active(now)),
            firing=firing,
        )

    def _quiet(self, inst: Instance, context: _QuietContext | None = None) -> str | None:
        """Why this alert is suppressed now, if it is (the alert shell's ``quiet``). Cached on
        everything it depends on: maintenance can only change at ``edges``."""
        c = context or self._quiet_context()
        key = (inst.fingerprint, c.down, c.phase, c.silences, tuple(fp for fp, _ in c.firing))
        if key in self.quiet_cache:
            return self.quiet_cache[key]
        reason = self.alerts.quiet(inst, set(c.down), list(c.firing))
        if len(self.quiet_cache) > 10_000:
            self.quiet_cache.clear()
        self.quiet_cache[key] = reason
        return reason

    # -- the timeline ------------------------------------------------------

    def _say(self, at: float, text: str) -> None:
        self.seq += 1
        self.entries.append((at, (0, self.seq), text))

    def _on_sent(self, d: Delivery) -> None:
        at = (d.sent_at or 0.0) - self.start_ts
        if d.state == "merged":
            self.digests.setdefault((at, d.channel, d.address), []).append(d)
            return
        self.entries.append((at, (1, d.id or 0), f"-> {self._to(d)}  {_about(d.notice)}"))

    def _to(self, d: Delivery) -> str:
        where = d.channel + (f" {d.address}" if d.address else "")
        person = next(
            (
                name
                for name, c in self.config.contacts.items()
                if d.address is not None and d.address in (c.phone, c.email, c.slack)
            ),
            None,
        )
        if d.target.startswith("oncall:"):
            return f"{where} ({person}, {d.target})" if person else f"{where} ({d.target})"
        if d.target in self.config.contacts:
            return f"{where} ({d.target})"
        return where

    def lines(self) -> list[str]:
        entries = list(self.entries)
        for (at, _, _), group in self.digests.items():
            first = min(group, key=lambda d: d.id or 0)
            about = "; ".join(_about(d.notice) for d in sorted(group, key=lambda d: d.id or 0))
            entries.append(
                (at, (1, first.id or 0), f"-> {self._to(first)}  digest of {len(group)}: {about}")
            )
        entries.sort(key=lambda e: (round(e[0], 3), e[1]))
        return [f"{_stamp(at)}  {text}" for at, _, text in entries]


def _on(t: float, step: float) -> bool:
    """Is ``t`` on a multiple of ``step``?"""
    return abs(t / step - round(t / step)) * step < EPS * 10


def _alert_name(inst: Instance) -> str:
    labels = ",".join(f'{k}="{v}"' for k, v in inst.labels)
    return f"{inst.rule} {inst.check}" + (f"{{{labels}}}" if labels else "")


def _about(notice: Notice) -> str:
    a = notice.alert
    return notice.kind if a is None else f"{notice.kind} {a.rule} {a.check}"


def _stamp(seconds: float) -> str:
    s = int(seconds + EPS)
    return f"+{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _maintenance_edges(config: Config, start: datetime, until: float) -> list[float]:
    """Seconds after ``start`` when a maintenance window starts, and a second after it ends
    (a window includes its last instant), within the run."""
    end = start + timedelta(seconds=until)
    edges: list[float] = []
    for window in config.maintenance:
        trigger = crontab(window.cron, ZoneInfo(window.timezone))
        at = start - timedelta(seconds=window.duration)
        for _ in range(10_000):
            fire = trigger.get_next_fire_time(None, at)
            if fire is None or fire > end:
                break
            for edge in (fire, fire + timedelta(seconds=window.duration + 1)):
                offset = (edge - start).total_seconds()
                if 0 < offset <= until:
                    edges.append(offset)
            at = fire + timedelta(seconds=1)
    return edges


@contextlib.contextmanager
def _warnings_only() -> Iterator[None]:
    """The escalator and dispatcher log every step at info: the timeline says it already."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)


async def simulate(config: Config, scenario: Scenario) -> list[str]:
    """Replay ``scenario`` against ``config``; the timeline, one line per entry.

    A scenario naming a check or rule the config lacks raises ScenarioError, like
    a scenario that does not load.
    """
    found = problems(config, scenario)
    if found:
        raise ScenarioError(f"\n{scenario.source}: ".join(found))
    sim = _Simulation(config, scenario)
    with _warnings_only():
        await sim.run()
    return sim.lines()
