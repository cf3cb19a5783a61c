"""The "probe location <x> unhealthy" alert, beside the rules' alerts.

A location whose own probes mostly fail while the other locations see the same
checks up (sentinel/cluster/quorum.py, ``unhealthy_locations``) is a problem of
that location's network, not of the checks: it raises this one alert instead of
a page per check, and its views count as unknown meanwhile. The alert goes
through the same state machine, store, escalation, silences and incidents as any
rule's (attached to the RuleEngine like the SLO alerts); in a cluster it is raised
by one member only, the rendezvous owner of the location's name.

When that owner changes (a member joins or leaves), the alert is handed over, never
ended: the old owner drops it without a transition (its stored state stays), and
the new one adopts the stored state, so a firing alert stays firing (no "resolved",
no second page) and a pending one keeps counting its ``for``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sentinel.config.models import Config
from sentinel.config.rule import Rule, Severity
from sentinel.probes.results import Result
from sentinel.rules.engine import Instance, Transition, fingerprint
from sentinel.rules.state import AlertState, advance, step

RULE = "probe_location_unhealthy"
SEVERITY: Severity = "high"  # monitoring lost an eye; the checks are still decided
# Held this long before it fires: one bad minute of a location's uplink is not news,
# and its views are already left out of the decisions meanwhile.
FOR = 60.0


def location_rule() -> Rule:
    return Rule.model_construct(
        name=RULE,
        match={},
        expr="more than half of the location's probes fail where the others succeed",
        for_=FOR,
        keep_firing_for=0.0,
        severity=SEVERITY,
        summary="probe location unhealthy: its checks are decided by the other locations",
        description="",
        runbook=None,
        labels={},
        on_no_data="keep",
        escalation=None,
    )


class LocationAlerts:
    """An AlertSource (sentinel/rules/engine.py): one instance per unhealthy location
    this member speaks for. ``judge`` sets what the next tick sees."""

    def __init__(self) -> None:
        self._rule = location_rule()
        self._instances: dict[str, Instance] = {}  # fingerprint -> instance
        self._unhealthy: frozenset[str] = frozenset()
        self._mine: frozenset[str] = frozenset()
        self._places: frozenset[str] = frozenset()
        self._judged = False  # until the first judge, restored states are left alone

    @property
    def mine(self) -> frozenset[str]:
        return self._mine

    def judge(
        self,
        unhealthy: Iterable[str],
        mine: Iterable[str],
        places: Iterable[str] | None = None,
        stored: Iterable[Instance] = (),
    ) -> list[Instance]:
        """``unhealthy``: the locations judged unhealthy now; ``mine``: the locations this
        member raises the alert for (the others' owners raise theirs); ``places``: every
        location the checks name (default ``mine``). Returns the alerts of locations
        this member no longer speaks for, dropped without a transition: their stored
        state is the new owner's. A location newly ``mine`` takes its alert's state
        from ``stored`` (the store's alerts), as the old owner left it."""
        before = self._mine
        self._unhealthy = frozenset(unhealthy)
        self._mine = frozenset(mine)
        self._places = self._mine if places is None else frozenset(places) | self._mine
        self._judged = True
        released = [
            i
            for i in self._instances.values()
            if i.check in self._places and i.check not in self._mine
        ]
        for inst in released:
            del self._instances[inst.fingerprint]
        gained = self._mine - before
        for inst in stored:
            if inst.rule == RULE and inst.check in gained:
                self._instances[inst.fingerprint] = inst
        return released

    def summary(self, location: str) -> str:
        return f"probe location {location} unhealthy"

    def configure(self, config: Config) -> None:
        return None

    def observe(self, result: Result, now: datetime) -> list[Transition]:
        return []

    def tick(self, now: datetime) -> list[Transition]:
        if not self._judged:
            return []
        at = now.timestamp()
        out: list[Transition] = []
        known = {i.check for i in self._instances.values()}
        for location in sorted(self._unhealthy | known):
            labels = (("location", location),)
            key = fingerprint(RULE, location, labels)
            inst = self._instances.get(key)
            holds = location in self._unhealthy and location in self._mine
            if inst is None:
                if not holds:
                    continue
                inst = Instance(RULE, location, labels, AlertState())
            event = advance(self._instances, key, inst, step(inst.state, holds, at, FOR))
            if event is not None:
                out.append(Transition(event, inst, SEVERITY, at))
        return out

    def rule(self, name: str, check: str) -> Rule | None:
        return self._rule if name == RULE else None

    def active(self) -> list[Instance]:
        return list(self._instances.values())

    def restore(self, instances: Iterable[Instance]) -> list[Instance]:
        rest = []
        for inst in instances:
            if inst.rule == RULE:
                self._instances[inst.fingerprint] = inst
            else:
                rest.append(inst)
        return rest
