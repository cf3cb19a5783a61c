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
persisted, routed and escalated the same way. The checks' results
come from :mod:`sentinel.simulate.checks`; what is printed is kept by
:mod:`sentinel.simulate.timeline`; the clock that jumps and the recording
notifiers are in :mod:`sentinel.simulate.standins`, and the cached quiet
reasons (maintenance, silences, dependencies, inhibition) in
:mod:`sentinel.simulate.quiet`.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from datetime import timedelta

from prometheus_client import CollectorRegistry

from sentinel import __version__
from sentinel.app.alerts import RULE_TICK, Alerts
from sentinel.config import Config, format_duration
from sentinel.config.slo import Slo
from sentinel.escalation import policy as pol
from sentinel.escalation.escalator import Escalator, Live
from sentinel.logs import warnings_only
from sentinel.metrics import Metrics
from sentinel.notify import pace
from sentinel.notify.base import Notifier
from sentinel.notify.dispatcher import Dispatcher
from sentinel.probes.results import LatestResults
from sentinel.routing.silences import Silence
from sentinel.rules.engine import RuleEngine, Transition
from sentinel.rules.slo_engine import PREFIX as SLO_PREFIX
from sentinel.rules.slo_engine import SloEngine
from sentinel.simulate.checks import EPS, ScriptedCheck
from sentinel.simulate.quiet import QuietReasons
from sentinel.simulate.scenario import (
    Event,
    Scenario,
    ScenarioError,
    problems,
)
from sentinel.simulate.standins import Record, Recorder, SimClock
from sentinel.simulate.timeline import Timeline, alert_name
from sentinel.sources.inbound import Inbound, Status, clean_labels, label_key
from sentinel.store.sqlite import SqliteStore

__all__ = ["simulate"]

SLO_TICK = 60.0  # SLO pairs are evaluated each minute (their counters' resolution)
# A safety net only (real seconds): the dispatcher says when it has settled; it never
# takes this long unless a worker died or its store hangs.
SETTLE_TIMEOUT = 30.0


# -- the simulation ----------------------------------------------------------


class _Simulation:
    def __init__(self, config: Config, scenario: Scenario) -> None:
        self.config = config
        self.scenario = scenario
        self.clock = SimClock(scenario.start)
        self.mono0 = self.clock.monotonic()
        self.start_ts = scenario.start.timestamp()
        named = {e.check for e in scenario.events if e.check is not None}
        watched = [c for c in config.checks if c.name in named]
        self.checks = {c.name: ScriptedCheck(c.type, c.interval) for c in watched}
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
        self.sent: list[Record] = []
        recorders: dict[str, tuple[str, Notifier]] = {
            name: (
                ch.type,
                Recorder(name, ch.type, self.clock, self.sent, *pace(ch.type)),
            )
            for name, ch in config.channels.items()
        }
        self.dispatcher.configure(recorders, config.notifications)
        self.timeline = Timeline(config, self.start_ts)
        self.dispatcher.on_sent.append(self.timeline.sent)
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
        self.quiet = QuietReasons(
            config, self.alerts, self.latest, self.clock, scenario.start, scenario.until
        )
        self.quiet_seen: dict[str, str | None] = {}
        self.fired: dict[str, float] = {}  # fingerprint -> unix time it fired
        self.names: dict[str, str] = {}  # fingerprint -> rule, check and labels, as printed
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
                    if e.alert is not None:
                        await self._external(e)
                    elif e.ack is None:
                        self._apply(e)
                    else:
                        acks.append(e)  # after the escalation tick: a step due now goes first
                for name, state in self.checks.items():
                    if state.runs * state.interval <= t + EPS:
                        result = state.result(name, self.clock.now())
                        self.latest.record(result)
                        await self._announce(self.engine.observe(result, self.clock.now()))
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
        edge = bisect.bisect_right(self.quiet.edges, t + EPS)
        candidates += self.quiet.edges[edge : edge + 1]
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
        """Wait for the dispatcher's sends and their store I/O, and for its workers to
        go to sleep, so their wake-up times are known before time moves: the
        dispatcher signals it (:meth:`~sentinel.notify.lanes.Lanes.settled`), nothing
        polls the real clock. Nothing to wait for when nothing stirred since the last
        settle."""
        if not self.stirred and self.dispatcher.idle():
            return
        self.stirred = False
        try:
            await asyncio.wait_for(self.dispatcher.settled(), SETTLE_TIMEOUT)
        except TimeoutError:
            raise RuntimeError("the dispatcher did not settle") from None

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
            self.timeline.say(
                e.at, f"silence {sid} on {matchers} for {format_duration(e.duration)}{note}"
            )
            return
        assert e.check is not None
        self.timeline.say(e.at, self.checks[e.check].change(e))

    async def _ack(self, e: Event) -> None:
        self.stirred = True
        firing = [
            i
            for i in self.engine.active()
            if i.rule == e.ack and i.state.state == "firing" and e.check in (None, i.check)
        ]
        what = f"{e.ack} {e.check}" if e.check else f"{e.ack}"
        if not firing:
            self.timeline.say(e.at, f"{what}  ack by {e.by}: no firing alert to acknowledge")
            return
        for inst in sorted(firing, key=lambda i: (i.check, i.labels)):
            name = alert_name(inst)
            progress = self.escalator.progress.get(inst.fingerprint)
            if progress is not None and progress.acked:
                self.timeline.say(
                    e.at, f"{name}  ack by {e.by}: already acknowledged by {progress.acked_by}"
                )
            elif await self.escalator.acknowledge(inst.fingerprint, e.by, "scenario"):
                self.timeline.say(e.at, f"{name}  acknowledged by {e.by}")
            else:
                self.timeline.say(
                    e.at, f"{name}  ack by {e.by}: nobody was paged, nothing to acknowledge"
                )

    # -- rules and escalation, as the daemon wires them -------------------

    async def _external(self, e: Event) -> None:
        """An alert from a source, taken as the daemon's web edge takes it."""
        assert e.source is not None
        assert e.alert is not None
        labels = clean_labels(e.alert)
        now = self.clock.now().timestamp()
        status: Status = "resolved" if e.resolves else "firing"
        inbound = Inbound(
            label_key(labels), status, labels, summary=e.summary,
            starts_at=None if e.resolves else now, ends_at=now if e.resolves else None,
        )  # fmt: skip
        taken, act = self.alerts.take(e.source, [inbound])
        for t in taken.transitions:
            self._tell(t)
        if not taken.transitions:
            outcome = ", ".join(taken.counts) or "nothing"
            self.timeline.say(e.at, f"{e.source} {status} {dict(labels)}: {outcome}, no change")
        await act

    async def _announce(self, transitions: list[Transition]) -> None:
        if transitions:
            self.stirred = True
        for t in transitions:
            self._tell(t)
            await self.alerts.accept(t)  # persisted, then acted on, as in the daemon

    def _tell(self, t: Transition) -> None:
        """Say what a transition is, and keep what the replay needs of it."""
        inst = t.instance
        at = t.at - self.start_ts
        due = self.alerts.due_at(t)
        if due is not None:
            self.deadlines.append((due - self.start_ts, inst.rule, inst.check))
        if t.event == "firing":
            self.fired[inst.fingerprint] = t.at
            self.names[inst.fingerprint] = alert_name(inst)
            quiet = self.quiet.reason(inst)
            self.quiet_seen[inst.fingerprint] = quiet
            note = f", quiet: {quiet}" if quiet else ""
            self.timeline.say(at, f"{alert_name(inst)}  FIRING ({t.severity}{note})")
        elif t.event == "resolved":
            fired = self.fired.pop(inst.fingerprint, inst.state.fired_at)
            lasted = "" if fired is None else f" after {format_duration(round(t.at - fired))}"
            self.timeline.say(at, f"{alert_name(inst)}  RESOLVED{lasted}")
            self.quiet_seen.pop(inst.fingerprint, None)
        elif t.event == "flapping":
            quiet = self.quiet.reason(inst)
            self.timeline.say(
                at,
                f"{inst.rule} {inst.check}  FLAPPING" + (f" (quiet: {quiet})" if quiet else ""),
            )
        elif t.event == "settled":
            self.timeline.say(at, f"{inst.rule} {inst.check}  settled (no longer flapping)")

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
                    self.timeline.say(t, f"{name}  no longer quiet")
                else:
                    self.timeline.say(t, f"{name}  quiet: {alert.quiet}")
            self.quiet_seen[fp] = alert.quiet
        await self.escalator.tick(live)

    def _live(self) -> dict[str, Live]:
        context = self.quiet.context()
        return self.alerts.live(lambda inst: self.quiet.reason(inst, context))


def _on(t: float, step: float) -> bool:
    """Is ``t`` on a multiple of ``step``?"""
    return abs(t / step - round(t / step)) * step < EPS * 10


async def simulate(config: Config, scenario: Scenario) -> list[str]:
    """Replay ``scenario`` against ``config``; the timeline, one line per entry.

    A scenario naming a check or rule the config lacks raises ScenarioError, like
    a scenario that does not load.
    """
    found = problems(config, scenario)
    if found:
        raise ScenarioError(f"\n{scenario.source}: ".join(found))
    sim = _Simulation(config, scenario)
    # the escalator and dispatcher log every step at info: the timeline says it already
    with warnings_only():
        await sim.run()
    return sim.timeline.lines()
