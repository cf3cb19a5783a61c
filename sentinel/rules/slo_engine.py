"""SLO burn-rate alerts as alert instances of synthetic rules, beside the rule engine's.

Each alert pair of each SLO is a rule named ``SLO:<slo>:<pair>`` on the "check"
``<slo>``: its instances go through the same state machine, store, escalation,
silences, maintenance and incidents as any rule's (the RuleEngine hands them on via
:meth:`RuleEngine.attach`). Results are counted as they arrive; pairs are evaluated on
the tick. Like the RuleEngine it never reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sentinel.config.models import Config
from sentinel.config.references import selects
from sentinel.config.rule import Rule
from sentinel.config.slo import (
    ALERT_PREFIX,
    BurnAlert,
    RatioIndicator,
    Slo,
    alert_rule,
    parse_selector,
)
from sentinel.probes.results import Labels, Result
from sentinel.routing.quiet import MaintenanceTimes
from sentinel.rules.engine import Instance, Transition, fingerprint
from sentinel.rules.slo import (
    Counters,
    SloStatus,
    Windows,
    burn_rate,
    hour_offset,
    pair_holds,
    status,
    windows_of,
)
from sentinel.rules.state import AlertState, advance, step

PREFIX = ALERT_PREFIX
SPREAD, SPREAD_STEP = 12, 5.0  # SLO pairs: evaluated once a minute, a twelfth each 5 s


def rule_name(slo: str, pair: str) -> str:
    return alert_rule(slo, pair)


def good_run(slo: Slo, result: Result) -> bool:
    """Availability: the run succeeded; latency: it succeeded faster than the threshold."""
    if slo.indicator == "latency":
        return result.ok and slo.threshold is not None and result.duration < slo.threshold
    return result.ok


Selector = tuple[str, Labels]


class RatioReader:
    """A ratio SLO's view of one check's samples: the increase of its total and bad (or
    good) counters since the check's previous run. Each series (name and labels) is read
    on its own, as Prometheus's rate() does: a value below the previous one is a counter
    reset, and the new value is the increase. A series' first value only sets its base."""

    __slots__ = ("good", "last", "total")

    def __init__(self, spec: RatioIndicator) -> None:
        self.total = parse_selector(spec.total)
        chosen = spec.good if spec.good is not None else spec.bad
        assert chosen is not None  # the config model asks for one
        self.good = (spec.good is not None, parse_selector(chosen))
        self.last: dict[tuple[int, str, Labels], float] = {}

    def read(self, result: Result) -> tuple[int, int] | None:
        """(good, total) events since the previous run; None when the run has no samples
        of the total (a failed scrape: no data, like a missing Prometheus sample)."""
        increase = [0.0, 0.0]  # total, the other
        seen = False
        for which, (name, want) in enumerate((self.total, self.good[1])):
            for sample in result.samples:
                if sample.name != name or not all(p in sample.labels for p in want):
                    continue
                key = (which, sample.name, sample.labels)
                before = self.last.get(key)
                self.last[key] = sample.value
                seen = seen or which == 0
                if before is not None:
                    increase[which] += (
                        sample.value - before if sample.value >= before else sample.value
                    )
        if not seen:
            return None
        total = max(0, round(increase[0]))
        other = min(total, max(0, round(increase[1])))
        return (other if self.good[0] else total - other), total


# What observe() counts a check's runs into, per SLO covering it: the SLO, its counters,
# the maintenance windows left out (None: none) and its ratio reader (None: runs).
Feed = tuple[Slo, Counters, tuple[int, ...] | None, RatioReader | None]


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


def place(entry: tuple[int, Slo]) -> int:
    return entry[0]


def by_check_name(
    slos: list[Slo],
) -> tuple[dict[str, list[tuple[int, Slo]]], list[tuple[int, Slo]]]:
    """The SLOs (with their place) whose ``check`` selector is a plain name, by that
    name, and the others (a glob, or no check selector): the candidates for a check are
    those of its name and the others, so 10,000 one-check SLOs are not each tried on
    10,000 checks."""
    named: dict[str, list[tuple[int, Slo]]] = {}
    others: list[tuple[int, Slo]] = []
    for n, slo in enumerate(slos):
        want = slo.match.get("check")
        if want is not None and not any(c in want for c in "*?["):
            named.setdefault(want, []).append((n, slo))
        else:
            others.append((n, slo))
    return named, others


def old_samples(slos: dict[str, Slo], slo: Slo) -> RatioIndicator | None:
    """The ratio indicator the SLO had before a reload (None: new, or not a ratio)."""
    old = slos.get(slo.name)
    return old.samples if old is not None else None


class SloEngine:
    def __init__(self) -> None:
        self._slos: dict[str, Slo] = {}
        self._counters: dict[str, Counters] = {}
        self._by_check: dict[str, list[Slo]] = {}
        self._rules: dict[str, tuple[str, str]] = {}  # rule name -> (slo, pair)
        self._made: dict[str, Rule] = {}  # rule name -> its synthetic rule, made when asked
        self._instances: dict[str, Instance] = {}  # fingerprint -> instance
        self._alerts: dict[str, dict[str, BurnAlert]] = {}  # slo -> its pairs
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}  # -> (rule name, fingerprint)
        self._readers: dict[tuple[str, str], RatioReader] = {}  # (slo, check) -> its counters
        self._feeds: dict[str, list[Feed]] = {}  # check -> what its runs count into
        self._maintenance = MaintenanceTimes(())
        # (slo, check) -> the maintenance windows whose runs it leaves out (exclude)
        self._excluded: dict[tuple[str, str], tuple[int, ...]] = {}
        self._evaluated: dict[str, int] = {}  # slo -> the (shifted) minute last evaluated
        # The SLOs by their place in the minute (n % SPREAD), in order, and the shifted
        # minute each twelfth was last evaluated at (None: not since configure()).
        self._spread: list[list[tuple[int, Slo]]] = [[] for _ in range(SPREAD)]
        self._spread_done: list[int | None] = [None] * SPREAD
        self._windows: dict[str, Windows] = {}  # slo -> the windows its status reads
        # Several replicas: each SLO is evaluated where its first check (config order) is
        # fed to the rules; the SLOs this member evaluates (None: all).
        self._anchor: dict[str, str] = {}  # slo -> its first check
        self._scope: frozenset[str] | None = None

    def configure(self, config: Config) -> None:
        """SLOs from a (re)loaded config; counters of an SLO kept by name and windows."""
        slos = {s.name: s for s in config.slos}
        for name, slo in slos.items():
            old = self._slos.get(name)
            if (
                old is None
                or old.longest() != slo.longest()
                or self._offset(old) != self._offset(slo)
            ):
                self._counters[name] = self._resized(name, slo)
        for name in list(self._counters):
            if name not in slos:
                del self._counters[name]
        before = self._slos
        self._slos = slos
        self._alerts = {name: s.burn_alerts() for name, s in slos.items()}
        self._windows = {name: windows_of(pairs) for name, pairs in self._alerts.items()}
        self._spread = [[] for _ in range(SPREAD)]
        for n, slo in enumerate(slos.values()):
            self._spread[n % SPREAD].append((n, slo))
        self._spread_done = [None] * SPREAD
        self._keys = {}
        self._rules = {}
        self._made = {}
        for name, pairs in self._alerts.items():
            for alert in pairs:
                named_pair, synthetic = (name, alert), rule_name(name, alert)
                self._keys[named_pair] = (synthetic, fingerprint(synthetic, name, ()))
                self._rules[synthetic] = named_pair
        self._by_check = {}
        self._anchor = {}
        self._maintenance = MaintenanceTimes(config.maintenance)
        self._excluded = {}
        readers = {}
        named, others = by_check_name(list(slos.values()))
        for check in config.checks:
            found = named.get(check.name, [])
            candidates = sorted(found + others, key=place) if found and others else found or others
            chosen = [s for _, s in candidates if selects(s.match, check, check.type)]
            if chosen:
                self._by_check[check.name] = chosen
            for slo in chosen:
                self._anchor.setdefault(slo.name, check.name)
                pair = (slo.name, check.name)
                if slo.maintenance == "exclude":
                    windows = self._maintenance.covering(check.labels)
                    if windows:
                        self._excluded[pair] = windows
                if slo.samples is not None:
                    kept = self._readers.get(pair)
                    same = kept is not None and old_samples(before, slo) == slo.samples
                    readers[pair] = kept if same and kept is not None else RatioReader(slo.samples)
        self._readers = readers
        self._feeds = {
            check: [
                (
                    slo,
                    self._counters[slo.name],
                    self._excluded.get((slo.name, check)),
                    readers.get((slo.name, check)),
                )
                for slo in chosen
            ]
            for check, chosen in self._by_check.items()
        }
        for key, inst in list(self._instances.items()):
            if inst.rule not in self._rules:
                del self._instances[key]

    @staticmethod
    def _offset(slo: Slo) -> int:
        return hour_offset(slo.timezone) if slo.window == "month" else 0

    def _resized(self, name: str, slo: Slo) -> Counters:
        fresh = Counters(slo.longest(), self._offset(slo))
        old = self._counters.get(name)
        if old is not None and old.hours.head is not None:
            # A changed window keeps what both rings can hold, at hour resolution.
            for index in range(old.hours.head - old.hours.size + 1, old.hours.head + 1):
                good, total = old.hours.bucket(index)
                if total:
                    fresh.hours.add(index * 3600 + old.hours.offset, good, total)
            fresh.minutes = old.minutes
            fresh.first = old.first
        return fresh

    @property
    def slos(self) -> list[Slo]:
        return list(self._slos.values())

    def covering(self, check: str) -> list[Slo]:
        """The SLOs that count this check's runs."""
        return list(self._by_check.get(check, ()))

    def counters(self, name: str) -> Counters | None:
        return self._counters.get(name)

    def load(self, rows: Iterable[tuple[str, int, int, int]]) -> None:
        """Stored minutes (slo, minute, good, total), oldest first, after configure()."""
        for name, minute, good, total in rows:
            counters = self._counters.get(name)
            if counters is not None:
                counters.load(minute, good, total)

    def seed(self, before: datetime, per_minute: dict[str, int]) -> None:
        """Healthy history for the SLOs named, over their longest window before ``before``
        (``sentinel simulate`` and timeline tests start with the windows full)."""
        for name, count in per_minute.items():
            slo, counters = self._slos.get(name), self._counters.get(name)
            if slo is not None and counters is not None:
                counters.seed(before.timestamp(), slo.longest(), count)

    def take_dirty(self) -> list[tuple[str, int, int, int]]:
        """Minutes counted since the last call, whole, to write to the store."""
        return [(n, *row) for n, c in self._counters.items() if c.dirty for row in c.take_dirty()]

    def observe(self, result: Result, now: datetime) -> list[Transition]:
        """Count a run into each SLO that covers its check, at its start time (a ratio
        SLO: the events its counters say happened since the check's previous run).
        With ``maintenance: exclude``, a run inside a maintenance window of its check is
        not counted (a ratio SLO's counters still move on, so the next run reads only
        what follows)."""
        feeds = self._feeds.get(result.check)
        if not feeds:
            return []
        at = result.started_at.timestamp()
        for slo, counters, excluded, reader in feeds:
            if reader is not None:
                counts = reader.read(result)
                if counts is None or self._excluding(excluded, at):
                    continue
                counters.count(at, *counts)
            elif not self._excluding(excluded, at):
                counters.add(at, good_run(slo, result))
        return []

    def _excluding(self, windows: tuple[int, ...] | None, at: float) -> bool:
        """Is ``at`` in one of the maintenance windows an SLO leaves out for a check?"""
        return windows is not None and any(self._maintenance.active(i, at) for i in windows)

    def _due(self, at: float) -> list[tuple[int, Slo]]:
        """The SLOs whose twelfth of the minute has come since it was last evaluated, in
        order (only the twelfths whose shifted minute moved are looked at)."""
        due: list[int] = []
        for part in range(SPREAD):
            shifted = int((at - part * SPREAD_STEP) // 60)
            if self._spread_done[part] != shifted:
                self._spread_done[part] = shifted
                due.append(part)
        if len(due) == 1:
            return self._spread[due[0]]
        return sorted((e for part in due for e in self._spread[part]), key=place)

    def tick(self, now: datetime) -> list[Transition]:
        """Evaluate each SLO's pairs once a minute (its counters' resolution), spread over
        the rule ticks: SLO number ``i`` at ``i % 12`` x 5 s past the minute, so a tick
        every 5 s evaluates a twelfth of them. A caller ticking each minute or less often
        evaluates them all every time."""
        at = now.timestamp()
        out: list[Transition] = []
        for n, slo in self._due(at):
            if self._scope is not None and slo.name not in self._scope:
                continue
            shifted = int((at - (n % SPREAD) * SPREAD_STEP) // 60)
            if self._evaluated.get(slo.name) == shifted:
                continue
            self._evaluated[slo.name] = shifted
            counters = self._counters[slo.name]
            for pair, alert in self._alerts[slo.name].items():
                name, key = self._keys[slo.name, pair]
                inst = self._instances.get(key)
                firing = inst is not None and inst.state.state == "firing"
                holds = pair_holds(alert, counters, slo.ratio, at, firing)
                if inst is None:
                    if not holds:
                        continue
                    inst = Instance(name, slo.name, (), AlertState())
                inst.value = burn_rate(*counters.sums(at, alert.long), slo.ratio)
                to = step(inst.state, holds, at, alert.for_)
                event = advance(self._instances, key, inst, to)
                if event is not None:
                    out.append(Transition(event, inst, alert.severity, at))
        return out

    def rule(self, name: str, check: str) -> Rule | None:
        key = self._rules.get(name)
        if key is None or check not in self._slos:
            return None
        rule = self._made.get(name)
        if rule is None:  # made on first use: most pairs never alert
            rule = self._made[name] = synthetic_rule(self._slos[key[0]], key[1])
        return rule

    def active(self) -> list[Instance]:
        return list(self._instances.values())

    def anchored(self, checks: Iterable[str]) -> set[str]:
        """The SLOs whose first check (config order) is among ``checks``."""
        fed = set(checks)
        return {name for name, check in self._anchor.items() if check in fed}

    def scope(self, names: Iterable[str] | None) -> list[Instance]:
        """Several replicas: evaluate only these SLOs' pairs (None: all). The alerts of
        the others are forgotten without a transition (they stay in the store for the
        member that evaluates them) and returned."""
        self._scope = None if names is None else frozenset(names)
        scope = self._scope
        dropped = [
            i for i in self._instances.values() if scope is not None and i.check not in scope
        ]
        for inst in dropped:
            del self._instances[inst.fingerprint]
        return dropped

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
        """Each SLO's status; its ``firing`` also lists the pairs whose alert is firing
        while only their hysteresis holds them (the short window between ``factor x
        hysteresis`` and ``factor``), so the API and the page agree with the alerts."""
        at = now.timestamp()
        firing: dict[str, set[str]] = {}  # slo -> rule names of its firing alerts
        for inst in self._instances.values():
            if inst.state.state == "firing":
                firing.setdefault(inst.check, set()).add(inst.rule)
        out = []
        for s in self._slos.values():
            st = status(s, self._counters[s.name], at, self._alerts[s.name], self._windows[s.name])
            rules = firing.get(s.name)
            if rules:
                pairs = self._alerts[s.name]
                held = {p for p in pairs if self._keys[s.name, p][0] in rules}
                if not held <= set(st.firing):
                    st = replace(st, firing=tuple(p for p in pairs if p in held or p in st.firing))
            out.append(st)
        return out
