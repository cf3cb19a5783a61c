"""SLO burn-rate alerts as alert instances of synthetic rules, beside the rule engine's.

Each alert pair of each SLO is a rule named ``SLO:<slo>:<pair>`` on the "check"
``<slo>``: its instances go through the same state machine, store, escalation,
silences, maintenance and incidents as any rule's (the RuleEngine hands them on via
:meth:`RuleEngine.attach`). Results are counted as they arrive; pairs are evaluated on
the tick. Like the RuleEngine it never reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sentinel.config.models import Config
from sentinel.config.references import selects
from sentinel.config.rule import Rule
from sentinel.config.slo import BurnAlert, Slo
from sentinel.probes.results import Result
from sentinel.rules.engine import Instance, Transition, fingerprint
from sentinel.rules.slo import Counters, SloStatus, burn_rate, pair_holds, status
from sentinel.rules.state import AlertState, step

PREFIX = "SLO:"


def rule_name(slo: str, pair: str) -> str:
    return f"{PREFIX}{slo}:{pair}"


def good_run(slo: Slo, result: Result) -> bool:
    """Availability: the run succeeded; latency: it succeeded faster than the threshold."""
    if slo.indicator == "latency":
        return result.ok and slo.threshold is not None and result.duration < slo.threshold
    return result.ok


def synthetic_rule(slo: Slo, pair: str) -> Rule:
    alert = slo.burn_alerts()[pair]
    window = f"{alert.long:g}s and {alert.short:g}s"
    return Rule.model_construct(
        name=rule_name(slo.name, pair),
        match={},
        expr=f"burn rate >= {alert.factor:g} over {window}",
        for_=alert.for_,
        keep_firing_for=0.0,
        severity=alert.severity,
        summary=f"SLO {slo.name} burns its error budget at {alert.factor:g}x or faster",
        description=slo.description,
        runbook=None,
        labels={**slo.labels, "slo": slo.name, "slo_alert": pair},
        on_no_data="keep",
        escalation=slo.escalation,
    )


class SloEngine:
    def __init__(self) -> None:
        self._slos: dict[str, Slo] = {}
        self._counters: dict[str, Counters] = {}
        self._by_check: dict[str, list[Slo]] = {}
        self._rules: dict[str, Rule] = {}  # rule name -> synthetic rule
        self._instances: dict[str, Instance] = {}  # fingerprint -> instance
        self._alerts: dict[str, dict[str, BurnAlert]] = {}  # slo -> its pairs
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}  # -> (rule name, fingerprint)

    def configure(self, config: Config) -> None:
        """SLOs from a (re)loaded config; counters of an SLO kept by name and windows."""
        slos = {s.name: s for s in config.slos}
        for name, slo in slos.items():
            old = self._slos.get(name)
            if old is None or old.longest() != slo.longest():
                self._counters[name] = self._resized(name, slo)
        for name in list(self._counters):
            if name not in slos:
                del self._counters[name]
        self._slos = slos
        self._alerts = {name: s.burn_alerts() for name, s in slos.items()}
        self._keys = {
            (name, pair): (rule_name(name, pair), fingerprint(rule_name(name, pair), name, ()))
            for name, pairs in self._alerts.items()
            for pair in pairs
        }
        self._by_check = {}
        for check in config.checks:
            chosen = [s for s in slos.values() if selects(s.match, check, check.type)]
            if chosen:
                self._by_check[check.name] = chosen
        self._rules = {
            rule_name(s.name, pair): synthetic_rule(s, pair)
            for s in slos.values()
            for pair in s.burn_alerts()
        }
        for key, inst in list(self._instances.items()):
            if inst.rule not in self._rules:
                del self._instances[key]

    def _resized(self, name: str, slo: Slo) -> Counters:
        fresh = Counters(slo.longest())
        old = self._counters.get(name)
        if old is not None and old.hours.head is not None:
            # A changed window keeps what both rings can hold, at hour resolution.
            for index in range(old.hours.head - old.hours.size + 1, old.hours.head + 1):
                good, total = old.hours.bucket(index)
                if total:
                    fresh.hours.add(index * 3600, good, total)
            fresh.minutes = old.minutes
        return fresh

    @property
    def slos(self) -> list[Slo]:
        return list(self._slos.values())

    def counters(self, name: str) -> Counters | None:
        return self._counters.get(name)

    def load(self, rows: Iterable[tuple[str, int, int, int]]) -> None:
        """Stored minutes (slo, minute, good, total), oldest first, after configure()."""
        for name, minute, good, total in rows:
            counters = self._counters.get(name)
            if counters is not None:
                counters.load(minute, good, total)

    def take_dirty(self) -> list[tuple[str, int, int, int]]:
        """Minutes counted since the last call, whole, to write to the store."""
        return [(n, *row) for n, c in self._counters.items() for row in c.take_dirty()]

    def observe(self, result: Result, now: datetime) -> list[Transition]:
        """Count a run into each SLO that covers its check, at its start time."""
        for slo in self._by_check.get(result.check, ()):
            self._counters[slo.name].add(result.started_at.timestamp(), good_run(slo, result))
        return []

    def tick(self, now: datetime) -> list[Transition]:
        """Evaluate every pair at ``now``; only a pair that holds or has an instance costs
        more than its two window sums (cached per minute, see Ring.sums)."""
        at = now.timestamp()
        out: list[Transition] = []
        for slo in self._slos.values():
            counters = self._counters[slo.name]
            for pair, alert in self._alerts[slo.name].items():
                name, key = self._keys[slo.name, pair]
                holds = pair_holds(alert, counters, slo.ratio, at)
                inst = self._instances.get(key)
                if inst is None:
                    if not holds:
                        continue
                    inst = Instance(name, slo.name, (), AlertState())
                inst.value = burn_rate(*counters.sums(at, alert.long), slo.ratio)
                state, event = step(inst.state, holds, at, alert.for_)
                inst.state = state
                if state.state == "inactive":
                    self._instances.pop(key, None)
                else:
                    self._instances[key] = inst
                if event is not None:
                    out.append(Transition(event, inst, alert.severity, at))
        return out

    def rule(self, name: str, check: str) -> Rule | None:
        rule = self._rules.get(name)
        return rule if rule is not None and check in self._slos else None

    def active(self) -> list[Instance]:
        return list(self._instances.values())

    def restore(self, instances: Iterable[Instance]) -> list[Instance]:
        """Take back stored instances of current SLO pairs; returns the others."""
        rest = []
        for inst in instances:
            if inst.rule in self._rules and inst.check in self._slos:
                self._instances[inst.fingerprint] = inst
            else:
                rest.append(inst)
        return rest

    def statuses(self, now: datetime) -> list[SloStatus]:
        at = now.timestamp()
        return [
            status(s, self._counters[s.name], at, self._alerts[s.name]) for s in self._slos.values()
        ]
