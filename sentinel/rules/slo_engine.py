"""SLO burn-rate alerts as alert instances of synthetic rules, beside the rule engine's.

Each alert pair of each SLO is a rule named ``SLO:<slo>:<pair>`` on the "check"
``<slo>``: its instances go through the same state machine, store, escalation,
silences, maintenance and incidents as any rule's (the RuleEngine hands them on via
:meth:`RuleEngine.attach`). Results are counted as they arrive; pairs are evaluated on
the tick. Like the RuleEngine it never reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime

from sentinel.config.models import Config
from sentinel.config.references import is_glob, selects
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
from sentinel.rules.engine import Instance, Transition
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


class Tracked:
    """One SLO as the engine keeps it: its config, counters, alert pairs and the windows
    its status reads (the pairs and windows shared by every SLO with the default
    pairs), its place in config order, and the (shifted) minute it was last evaluated."""

    __slots__ = ("alerts", "counters", "evaluated", "place", "slo", "windows")

    def __init__(
        self,
        slo: Slo,
        counters: Counters,
        pairs: tuple[dict[str, BurnAlert], Windows],
        place: int,
        evaluated: int | None,
    ) -> None:
        self.slo, self.counters, self.place, self.evaluated = slo, counters, place, evaluated
        self.alerts, self.windows = pairs


# What observe() counts a check's runs into, per SLO covering it: the SLO, the
# maintenance windows left out (None: none) and its ratio reader (None: runs); a plain
# Tracked when it has neither (most SLOs: one object, not a tuple, per check).
Feed = Tracked | tuple[Tracked, tuple[int, ...] | None, RatioReader | None]


def parse_rule(name: str) -> tuple[str, str] | None:
    """(slo, pair) of a synthetic rule name ``SLO:<slo>:<pair>`` (neither holds a colon)."""
    if not name.startswith(PREFIX):
        return None
    slo, _, pair = name[len(PREFIX) :].rpartition(":")
    return (slo, pair) if slo and pair else None


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
        if want is not None and not is_glob(want):
            named.setdefault(want, []).append((n, slo))
        else:
            others.append((n, slo))
    return named, others


def old_samples(slos: dict[str, Tracked], slo: Slo) -> RatioIndicator | None:
    """The ratio indicator the SLO had before a reload (None: new, or not a ratio)."""
    old = slos.get(slo.name)
    return old.slo.samples if old is not None else None


class SloEngine:
    def __init__(self) -> None:
        self._slos: dict[str, Tracked] = {}  # in config order
        self._made: dict[str, Rule] = {}  # rule name -> its synthetic rule, made when asked
        self._instances: dict[str, Instance] = {}  # rule name -> its (one) instance
        self._readers: dict[tuple[str, str], RatioReader] = {}  # (slo, check) -> its counters
        self._feeds: dict[str, tuple[Feed, ...]] = {}  # check -> what its runs count into
        self._maintenance = MaintenanceTimes(())
        # The SLOs by their place in the minute (n % SPREAD), in order, and the shifted
        # minute each twelfth was last evaluated at (None: not since configure()).
        self._spread: list[list[Tracked]] = [[] for _ in range(SPREAD)]
        self._spread_done: list[int | None] = [None] * SPREAD
        # Several replicas: each SLO is evaluated where its first check (config order) is
        # fed to the rules; the SLOs this member evaluates (None: all).
        self._anchor: dict[str, str] = {}  # slo -> its first check
        self._scope: frozenset[str] | None = None

    def configure(self, config: Config) -> None:
        """SLOs from a (re)loaded config; counters of an SLO kept by name and windows."""
        before = self._slos
        shared: tuple[dict[str, BurnAlert], Windows] | None = None  # the default pairs'
        slos: dict[str, Tracked] = {}
        for n, slo in enumerate(config.slos):
            if slo.alerts:
                alerts = slo.burn_alerts()
                pairs = (alerts, windows_of(alerts))
            else:
                if shared is None:
                    alerts = slo.burn_alerts()
                    shared = (alerts, windows_of(alerts))
                pairs = shared
            old = before.get(slo.name)
            if (
                old is None
                or old.slo.longest() != slo.longest()
                or self._offset(old.slo) != self._offset(slo)
            ):
                counters = self._resized(old, slo)
            else:
                counters = old.counters
            evaluated = old.evaluated if old is not None else None
            slos[slo.name] = Tracked(slo, counters, pairs, n, evaluated)
        self._slos = slos
        self._spread = [[] for _ in range(SPREAD)]
        for tracked in slos.values():
            self._spread[tracked.place % SPREAD].append(tracked)
        self._spread_done = [None] * SPREAD
        self._made = {}
        self._anchor = {}
        self._maintenance = MaintenanceTimes(config.maintenance)
        readers = {}
        feeds: dict[str, tuple[Feed, ...]] = {}
        named, others = by_check_name([t.slo for t in slos.values()])
        for check in config.checks:
            found = named.get(check.name, [])
            candidates = sorted(found + others, key=place) if found and others else found or others
            chosen: list[Feed] = []
            for _, slo in candidates:
                if not selects(slo.match, check, check.type):
                    continue
                self._anchor.setdefault(slo.name, check.name)
                pair = (slo.name, check.name)
                excluded = None
                if slo.maintenance == "exclude":
                    excluded = self._maintenance.covering(check.labels) or None
                reader = None
                if slo.samples is not None:
                    kept = self._readers.get(pair)
                    same = kept is not None and old_samples(before, slo) == slo.samples
                    reader = readers[pair] = (
                        kept if same and kept is not None else RatioReader(slo.samples)
                    )
                tracked = slos[slo.name]
                chosen.append(
                    tracked if excluded is None and reader is None else (tracked, excluded, reader)
                )
            if chosen:
                feeds[check.name] = tuple(chosen)
        self._readers = readers
        self._feeds = feeds
        for key in list(self._instances):
            if self._pair(key) is None:
                del self._instances[key]

    def _pair(self, rule: str) -> tuple[Tracked, BurnAlert] | None:
        """The SLO and alert pair of a synthetic rule name, if both are configured."""
        parsed = parse_rule(rule)
        tracked = None if parsed is None else self._slos.get(parsed[0])
        if parsed is None or tracked is None:
            return None
        alert = tracked.alerts.get(parsed[1])
        return None if alert is None else (tracked, alert)

    @staticmethod
    def _offset(slo: Slo) -> int:
        return hour_offset(slo.timezone) if slo.window == "month" else 0

    def _resized(self, old: Tracked | None, slo: Slo) -> Counters:
        fresh = Counters(slo.longest(), self._offset(slo))
        if old is not None and old.counters.hours.head is not None:
            # A changed window keeps what both rings can hold, at hour resolution.
            hours = old.counters.hours
            assert hours.head is not None
            first = hours.head - hours.size + 1
            with fresh.hours.unpacked():
                goods, totals = hours.buckets(first, hours.head)
                for index, (good, total) in enumerate(zip(goods, totals, strict=True)):
                    if total:
                        fresh.hours.add((first + index) * 3600 + hours.offset, good, total)
            fresh.minutes = old.counters.minutes
            fresh.first = old.counters.first
        return fresh

    @property
    def slos(self) -> list[Slo]:
        return [t.slo for t in self._slos.values()]

    def covering(self, check: str) -> list[Slo]:
        """The SLOs that count this check's runs."""
        return [(f if isinstance(f, Tracked) else f[0]).slo for f in self._feeds.get(check, ())]

    def counters(self, name: str) -> Counters | None:
        tracked = self._slos.get(name)
        return None if tracked is None else tracked.counters

    @contextmanager
    def loading(self, names: Iterable[str]) -> Iterator[None]:
        """The counters of the SLOs named kept inflated while their stored rows load (one
        deflate each at the end, not one per stored minute or hour)."""
        with ExitStack() as stack:
            for name in names:
                tracked = self._slos.get(name)
                if tracked is None:
                    continue
                stack.enter_context(tracked.counters.minutes.unpacked())
                stack.enter_context(tracked.counters.hours.unpacked())
            yield

    def load(self, rows: Iterable[tuple[str, int, int, int]]) -> None:
        """Stored minutes (slo, minute, good, total), oldest first, after configure()."""
        for name, minute, good, total in rows:
            tracked = self._slos.get(name)
            if tracked is not None:
                tracked.counters.load(minute, good, total)

    def seed(self, before: datetime, per_minute: dict[str, int]) -> None:
        """Healthy history for the SLOs named, over their longest window before ``before``
        (``sentinel simulate`` and timeline tests start with the windows full)."""
        for name, count in per_minute.items():
            tracked = self._slos.get(name)
            if tracked is not None:
                tracked.counters.seed(before.timestamp(), tracked.slo.longest(), count)

    def take_dirty(self) -> list[tuple[str, int, int, int]]:
        """Minutes counted since the last call, whole, to write to the store."""
        return [
            (name, *row)
            for name, t in self._slos.items()
            if t.counters.dirty
            for row in t.counters.take_dirty()
        ]

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
        for feed in feeds:
            if isinstance(feed, Tracked):
                feed.counters.add(at, good_run(feed.slo, result))
                continue
            tracked, excluded, reader = feed
            if reader is not None:
                counts = reader.read(result)
                if counts is None or self._excluding(excluded, at):
                    continue
                tracked.counters.count(at, *counts)
            elif not self._excluding(excluded, at):
                tracked.counters.add(at, good_run(tracked.slo, result))
        return []

    def _excluding(self, windows: tuple[int, ...] | None, at: float) -> bool:
        """Is ``at`` in one of the maintenance windows an SLO leaves out for a check?"""
        return windows is not None and any(self._maintenance.active(i, at) for i in windows)

    def _due(self, at: float) -> list[Tracked]:
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
        return sorted((t for part in due for t in self._spread[part]), key=lambda t: t.place)

    def tick(self, now: datetime) -> list[Transition]:
        """Evaluate each SLO's pairs once a minute (its counters' resolution), spread over
        the rule ticks: SLO number ``i`` at ``i % 12`` x 5 s past the minute, so a tick
        every 5 s evaluates a twelfth of them. A caller ticking each minute or less often
        evaluates them all every time."""
        at = now.timestamp()
        out: list[Transition] = []
        instances = self._instances
        for tracked in self._due(at):
            if self._scope is not None and tracked.slo.name not in self._scope:
                continue
            shifted = int((at - (tracked.place % SPREAD) * SPREAD_STEP) // 60)
            if tracked.evaluated == shifted:
                continue
            tracked.evaluated = shifted
            slo, counters = tracked.slo, tracked.counters
            for pair, alert in tracked.alerts.items():
                name = rule_name(slo.name, pair)
                inst = instances.get(name)
                firing = inst is not None and inst.state.state == "firing"
                holds = pair_holds(alert, counters, slo.ratio, at, firing)
                if inst is None:
                    if not holds:
                        continue
                    inst = Instance(name, slo.name, (), AlertState())
                inst.value = burn_rate(*counters.sums(at, alert.long), slo.ratio)
                to = step(inst.state, holds, at, alert.for_)
                event = advance(instances, name, inst, to)
                if event is not None:
                    out.append(Transition(event, inst, alert.severity, at))
        return out

    def rule(self, name: str, check: str) -> Rule | None:
        found = self._pair(name)
        if found is None or found[0].slo.name != check:
            return None
        rule = self._made.get(name)
        if rule is None:  # made on first use: most pairs never alert
            parsed = parse_rule(name)
            assert parsed is not None
            rule = self._made[name] = synthetic_rule(found[0].slo, parsed[1])
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
            del self._instances[inst.rule]
        return dropped

    def restore(self, instances: Iterable[Instance]) -> list[Instance]:
        """Take back stored instances of current SLO pairs; returns the others."""
        rest = []
        for inst in instances:
            found = self._pair(inst.rule)
            if found is not None and found[0].slo.name == inst.check and not inst.labels:
                self._instances[inst.rule] = inst
            else:
                rest.append(inst)
        return rest

    def statuses(self, now: datetime) -> list[SloStatus]:
        """Each SLO's status (:meth:`each_status`)."""
        return list(self.each_status(now))

    def each_status(self, now: datetime) -> Iterator[SloStatus]:
        """Each SLO's status, made as it is asked for (the keeper packs them into its
        table one by one: 10,000 are never all held); its ``firing`` also lists the
        pairs whose alert is firing while only their hysteresis holds them (the short
        window between ``factor x hysteresis`` and ``factor``), so the API and the page
        agree with the alerts."""
        at = now.timestamp()
        firing: dict[str, set[str]] = {}  # slo -> its pairs whose alert is firing
        for inst in self._instances.values():
            if inst.state.state == "firing":
                parsed = parse_rule(inst.rule)
                if parsed is not None:
                    firing.setdefault(parsed[0], set()).add(parsed[1])
        for t in self._slos.values():
            st = status(t.slo, t.counters, at, t.alerts, t.windows)
            held = firing.get(t.slo.name)
            if held and not held <= set(st.firing):
                pairs = t.alerts
                st = replace(st, firing=tuple(p for p in pairs if p in held or p in st.firing))
            yield st
