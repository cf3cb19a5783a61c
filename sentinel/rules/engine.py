"""The rule engine: series per check, rules evaluated as results arrive and on a tick,
one alert state per (rule, check, label set), and the transitions to announce.

Decisions are the pure ``evaluate`` and ``step``; this class only keeps the
series and the states; every evaluation is at the ``now`` its caller passes.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sentinel.config.models import Config
from sentinel.config.references import selects
from sentinel.config.rule import Rule
from sentinel.probes.results import Labels, Result
from sentinel.rules.evaluate import evaluate
from sentinel.rules.expr import parse
from sentinel.rules.flapping import WINDOW, change_share, is_flapping
from sentinel.rules.series import CheckSeries
from sentinel.rules.state import AlertState, Event, advance, step
from sentinel.rules.tree import Binary, Call, Node, Unary, longest_window


def fingerprint(rule: str, check: str, labels: Labels) -> str:
    """A stable identity for one alert instance (also PagerDuty's dedup_key later)."""
    text = "\x1f".join([rule, check, *(f"{k}={v}" for k, v in sorted(labels))])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Compiled:
    rule: Rule
    node: Node
    window: float
    # True when the condition can start to hold with no new result (absent(), not):
    # only such rules, and pairs with live instances, need the tick.
    holds_on_silence: bool = False


@dataclass
class Instance:
    rule: str
    check: str
    labels: Labels
    state: AlertState
    value: float | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.check, self.labels)


@dataclass(frozen=True, slots=True)
class Transition:
    event: Event
    instance: Instance
    severity: str
    at: float


class AlertSource(Protocol):
    """Alerts made beside the rules (SLO burn rates, sentinel/rules/slo_engine.py): the
    engine hands them config, results and ticks, and answers for their instances, so
    everything downstream (store, escalation, silences) sees one set of alerts."""

    def configure(self, config: Config) -> None: ...

    def observe(self, result: Result, now: datetime) -> list[Transition]: ...

    def tick(self, now: datetime) -> list[Transition]: ...

    def rule(self, name: str, check: str) -> Rule | None: ...

    def active(self) -> list[Instance]: ...

    def restore(self, instances: Iterable[Instance]) -> list[Instance]:
        """Take back its own stored instances; returns the others."""
        ...


class RuleEngine:
    """Alert state of every (rule, check) pair. It never reads a clock: every
    evaluation is at the ``now`` its caller passes (the daemon and ``sentinel
    simulate`` pass their clock's reading), so it is a pure function of its inputs."""

    def __init__(self) -> None:
        self._by_check: dict[str, list[Compiled]] = {}
        self._series: dict[str, CheckSeries] = {}
        self._instances: dict[str, Instance] = {}  # fingerprint -> instance
        self._history: dict[tuple[str, str], deque[bool]] = {}  # (rule, check) -> holds per result
        self.flapping: set[tuple[str, str]] = set()
        self.evaluations = 0
        self._sources: list[AlertSource] = []
        self._scope: frozenset[str] | None = None  # a cluster member's checks; None: all

    def attach(self, source: AlertSource) -> None:
        """Another maker of alerts, configured, fed and ticked with the rules."""
        self._sources.append(source)

    def scope(self, checks: Iterable[str] | None) -> None:
        """Several replicas: tick only these checks' rules (those whose results this
        member feeds the rules); None: every check. A member must not find ``absent()``
        true of a check another member probes (sentinel/cluster/sharing.py)."""
        self._scope = None if checks is None else frozenset(checks)

    def configure(self, config: Config) -> None:
        """Rules and checks from a (re)loaded config; series and states of kept ones stay."""
        for source in self._sources:
            source.configure(config)
        compiled = [self._compile(rule) for rule in config.rules]
        by_check: dict[str, list[Compiled]] = {}
        for check in config.checks:
            chosen = [c for c in compiled if selects(c.rule.match, check, check.type)]
            chosen += [self._compile(rule) for rule in check.rules]  # inline: this check only
            if chosen:
                by_check[check.name] = chosen
        self._by_check = by_check
        for name, rules in by_check.items():
            retention = max(c.window for c in rules)
            series = self._series.get(name)
            if series is None:
                self._series[name] = CheckSeries(retention)
            else:
                series.retention = max(series.retention, retention)
        for name in list(self._series):
            if name not in by_check:
                del self._series[name]
        wanted = {(c.rule.name, check) for check, rules in by_check.items() for c in rules}
        for key, inst in list(self._instances.items()):
            if (inst.rule, inst.check) not in wanted:
                del self._instances[key]
        for pair in list(self._history):
            if pair not in wanted:
                del self._history[pair]
                self.flapping.discard(pair)

    @staticmethod
    def _compile(rule: Rule) -> Compiled:
        node = parse(rule.expr)
        silent = rule.on_no_data == "fire" or _mentions_absence(node)
        return Compiled(rule, node, longest_window(node), silent)

    def rule(self, name: str, check: str) -> Rule | None:
        """The rule behind an instance (top-level or inline on its check, or a source's)."""
        found = next((c.rule for c in self._by_check.get(check, []) if c.rule.name == name), None)
        for source in self._sources:
            found = found or source.rule(name, check)
        return found

    def restore(self, instances: Iterable[Instance]) -> None:
        """States kept across a restart: a pending alert keeps counting its ``for``."""
        for source in self._sources:
            instances = source.restore(instances)
        for inst in instances:
            if any(c.rule.name == inst.rule for c in self._by_check.get(inst.check, [])):
                self._instances[inst.fingerprint] = inst

    def adopt(self, checks: Iterable[str], instances: Iterable[Instance]) -> int:
        """Several replicas: take over ``checks`` (they moved to this member) with their
        stored alert states, so a pending alert keeps counting its ``for`` and a firing
        one stays firing (no second page). Stored states replace what this engine held
        for those checks; returns how many were taken."""
        wanted = set(checks)
        taken = 0
        for inst in instances:
            if inst.check not in wanted:
                continue
            if any(c.rule.name == inst.rule for c in self._by_check.get(inst.check, [])):
                self._instances[inst.fingerprint] = inst
                taken += 1
        return taken

    def release(self, checks: Iterable[str]) -> list[Instance]:
        """Several replicas: forget ``checks`` (they moved to another member) without a
        transition: their alert states stay in the store for the new owner, and this
        engine stops evaluating them (their series go too). Returns what was dropped."""
        gone = set(checks)
        dropped = [i for i in self._instances.values() if i.check in gone]
        for inst in dropped:
            del self._instances[inst.fingerprint]
        for check in gone:
            series = self._series.get(check)
            if series is not None:  # an empty one: if the check comes back, old runs don't count
                self._series[check] = CheckSeries(series.retention)
        self._history = {k: v for k, v in self._history.items() if k[1] not in gone}
        self.flapping = {k for k in self.flapping if k[1] not in gone}
        return dropped

    def observe(self, result: Result, now: datetime) -> list[Transition]:
        """Add a result to its check's series and evaluate that check's rules at ``now``."""
        out = [t for source in self._sources for t in source.observe(result, now)]
        rules = self._by_check.get(result.check)
        if not rules:
            return out
        self._series[result.check].add(result)
        at = now.timestamp()
        for compiled in rules:
            found = self._evaluate(compiled, result.check, at)
            out.extend(self._flap(compiled, result.check, at))
            out.extend(found)
        return out

    def _flap(self, compiled: Compiled, check: str, now: float) -> list[Transition]:
        """Track whether the rule held at each result; announce the start and end of flapping."""
        key = (compiled.rule.name, check)
        holds = any(
            i.rule == key[0] and i.check == check and i.state.last_true == now
            for i in self._instances.values()
        )
        history = self._history.setdefault(key, deque(maxlen=WINDOW))
        history.append(holds)
        was = key in self.flapping
        if len(history) < WINDOW and not was:
            return []  # judge only a full window: a new check has too little history
        now_flapping = is_flapping(was, change_share(history))
        if now_flapping == was:
            return []
        if now_flapping:
            self.flapping.add(key)
        else:
            self.flapping.discard(key)
        marker = Instance(compiled.rule.name, check, (), AlertState())
        return [
            Transition(
                "flapping" if now_flapping else "settled", marker, compiled.rule.severity, now
            )
        ]

    def tick(self, now: datetime) -> list[Transition]:
        """Evaluate at ``now`` what can change between results: pairs with a pending or firing
        instance (a `for` or `keep_firing_for` elapsing, data ageing out of the lookback),
        and rules that can start to hold on silence (absent(), not, on_no_data: fire).
        Everything else was evaluated when its last result arrived."""
        at = now.timestamp()
        live = {(i.rule, i.check) for i in self._instances.values()}
        out = [t for source in self._sources for t in source.tick(now)]
        scope = self._scope
        for check, rules in self._by_check.items():
            if scope is not None and check not in scope:
                continue
            for compiled in rules:
                if compiled.holds_on_silence or (compiled.rule.name, check) in live:
                    out.extend(self._evaluate(compiled, check, at))
        return out

    def evaluate_pair(self, rule: str, check: str, now: datetime) -> list[Transition]:
        """Evaluate one rule on one check at ``now``: when a pending alert's ``for`` elapses
        between two results, it fires then, not at the next result or tick."""
        compiled = next((c for c in self._by_check.get(check, []) if c.rule.name == rule), None)
        if compiled is None:
            return []
        return self._evaluate(compiled, check, now.timestamp())

    def _evaluate(self, compiled: Compiled, check: str, now: float) -> list[Transition]:
        rule = compiled.rule
        self.evaluations += 1
        result = evaluate(compiled.node, self._series[check], now)
        out: list[Transition] = []
        seen: set[str] = set()
        for labels, value in result.value.items():
            key = fingerprint(rule.name, check, labels)
            seen.add(key)
            inst = self._instances.get(key) or Instance(rule.name, check, labels, AlertState())
            inst.value = value
            out.extend(self._step(inst, True, compiled, now))
        for key, inst in list(self._instances.items()):
            if inst.rule == rule.name and inst.check == check and key not in seen:
                holds = None if result.missing else False
                out.extend(self._step(inst, holds, compiled, now))
        return out

    def _step(
        self, inst: Instance, holds: bool | None, compiled: Compiled, now: float
    ) -> list[Transition]:
        rule = compiled.rule
        to = step(inst.state, holds, now, rule.for_, rule.keep_firing_for, rule.on_no_data)
        event = advance(self._instances, inst.fingerprint, inst, to)
        if event is None:
            return []
        return [Transition(event, inst, rule.severity, now)]

    def active(self) -> list[Instance]:
        """Pending and firing instances (the rules' and the sources')."""
        return [*self._instances.values(), *(i for s in self._sources for i in s.active())]


def _mentions_absence(node: Node) -> bool:
    if isinstance(node, Call):
        return node.func == "absent" or any(_mentions_absence(a) for a in node.args)
    if isinstance(node, Unary):
        return node.op == "not" or _mentions_absence(node.operand)
    if isinstance(node, Binary):
        return _mentions_absence(node.left) or _mentions_absence(node.right)
    return False
