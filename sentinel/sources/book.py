"""The book of external alerts: one alert instance per (source, the sender's key),
beside the rule engine's (attached as an :class:`~sentinel.rules.engine.AlertSource`),
so silences, maintenance, inhibition, escalation, the store and incidents see one set
of alerts.

:meth:`SourceBook.take` decides what a batch of :class:`Inbound` changes, at the
``now`` its caller passes; it never reads a clock and does no I/O:

- a firing alert not yet known fires (one transition); one already firing only has
  its text refreshed, so duplicates (Alertmanager in HA) and the group resent on every
  ``repeat_interval`` never page again;
- a resolve resolves it, unless it is older than the firing known (its ``startsAt``
  before the firing's, or its ``endsAt`` before the firing began): out of order, kept
  out;
- a firing of an episode already resolved (its ``startsAt`` not after the resolve's
  ``endsAt``) is a late duplicate, kept out;
- a source that stops sending resolves nothing: silence is not a recovery;
- an alert that fires and resolves again and again (FLAP_START changes within
  FLAP_WINDOW) is flapping: it pages nobody until it settles (one "flapping" notice
  instead, as for rules).

Several replicas (docs/sources.md, "Several replicas"): any member may take any
request, so before deciding, a member takes the store's word for the request's
alerts (:meth:`SourceBook.sync`): an alert another member fired is known here, one
another member resolved is gone, and the end of its episode keeps late copies out
on every member. :attr:`SourceBook.seq` orders what this member changed against
what it read, so a read older than a local change never undoes it.

What the store keeps of an alert rides in its labels (``sentinel.sources.external``);
:meth:`restore` reads them back.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sentinel.config.models import Config
from sentinel.config.rule import Rule
from sentinel.config.sources import Source
from sentinel.probes.results import Result
from sentinel.rules.engine import Instance, Transition
from sentinel.rules.state import AlertState
from sentinel.sources.external import (
    K_KEY,
    K_START,
    K_TEXT,
    External,
    classify,
    external_fingerprint,
)
from sentinel.sources.inbound import Inbound
from sentinel.sources.taken import Checkpoint, Taken

TOMBSTONES = 100_000  # resolved episodes remembered (to keep late duplicates out), at most
# Flapping: an alert that fires and resolves FLAP_START times (fires + resolves) within
# FLAP_WINDOW is flapping: it pages nobody more (one "flapping" notice instead) until
# fewer than FLAP_STOP changes fall within the window.
FLAP_WINDOW = 3600.0
FLAP_START = 6
FLAP_STOP = 2


class SourceBook:
    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}
        self._alerts: dict[str, External] = {}  # fingerprint -> alert
        self._resolved: dict[str, float] = {}  # fingerprint -> end of its last episode
        self.last_spoke: dict[str, float] = {}  # source -> unix time of its last request
        self._rules: dict[str, Rule] = {}
        self._changes: dict[str, deque[float]] = {}  # fingerprint -> its recent fires/resolves
        self.flapping: dict[str, External] = {}  # fingerprint -> the alert, while it flaps
        # Several replicas: each change here is numbered; touched[fp] is the number of
        # the last one to an alert (taken, or saved), so a read of the store begun
        # before it (its mark, the seq then) is not taken over it (see :meth:`sync`).
        self.seq = 0
        self.touched: dict[str, int] = {}

    # -- AlertSource ----------------------------------------------------------

    def configure(self, config: Config) -> None:
        """Sources from a (re)loaded config: alerts of a removed source go, the rest
        are classified again (a changed mapping applies to open alerts)."""
        self._sources = {s.name: s for s in config.sources}
        self._rules = {
            s.name: Rule.model_construct(
                name=s.name, match={}, expr="external", for_=0.0, keep_firing_for=0.0,
                severity=s.default_severity, summary="", description="", runbook=None,
                labels=dict(s.labels), on_no_data="keep", escalation=s.escalation,
            )
            for s in config.sources
        }  # fmt: skip
        for fp, alert in list(self._alerts.items()):
            found = self._sources.get(alert.source)
            if found is None:
                del self._alerts[fp]
            else:
                alert.classify_by(found)
        for name in list(self.last_spoke):
            if name not in self._sources:
                del self.last_spoke[name]

    def observe(self, result: Result, now: datetime) -> list[Transition]:
        return []

    def tick(self, now: datetime) -> list[Transition]:
        """Only flapping settles with time; nothing else ends by itself (a source that
        goes quiet resolves nothing)."""
        at = now.timestamp()
        out = []
        for fp, alert in list(self.flapping.items()):
            if self._recent(fp, at) < FLAP_STOP:
                del self.flapping[fp]
                out.append(Transition("settled", alert, alert.severity, at))
        for fp in [
            fp for fp, times in self._changes.items() if not times or times[-1] < at - FLAP_WINDOW
        ]:
            del self._changes[fp]
        return out

    def rule(self, name: str, check: str) -> Rule | None:
        """A source's alerts share one rule-like default (severity, policy, labels)."""
        return self._rules.get(check)

    def active(self) -> list[Instance]:
        return list(self._alerts.values())

    def restore(self, instances: Iterable[Instance]) -> list[Instance]:
        """Take back stored alerts of configured sources; returns the others."""
        rest = []
        for inst in instances:
            alert = self._revive(inst)
            if alert is None:
                rest.append(inst)
            else:
                self._alerts[alert.fingerprint] = alert
        return rest

    def revived(self, inst: Instance) -> Instance:
        """A stored alert as this member would show it: an inbound alert of a
        configured source as an :class:`External` (its id is its source's and key's,
        not the hash of its stored labels), any other as it is. Changes nothing."""
        alert = self._revive(inst)
        return inst if alert is None else alert

    def _revive(self, inst: Instance) -> External | None:
        """A stored alert of a configured source as this book keeps it, else None."""
        labels = dict(inst.labels)
        source = self._sources.get(inst.check)
        if K_KEY not in labels or source is None:
            return None
        start = labels.get(K_START)
        summary, description, runbook, link = (labels.get(k, "") for k in K_TEXT)
        alert = External(
            inst.rule, inst.check, inst.labels, inst.state, None,
            source=source.name, key=labels[K_KEY],
            own=tuple((k, v) for k, v in inst.labels if not k.startswith("__")),
            summary=summary, description=description, runbook=runbook or None,
            link=link or None, starts_at=float(start) if start else None,
        )  # fmt: skip
        alert.classify_by(source)
        return alert

    # -- several replicas -------------------------------------------------------

    def touch(self, fingerprints: Iterable[str]) -> None:
        """These alerts changed here now (taken, or their save finished)."""
        self.seq += 1
        for fp in fingerprints:
            self.touched.pop(fp, None)
            self.touched[fp] = self.seq
        self._forget_touches()

    def _forget_touches(self) -> None:
        while len(self.touched) > TOMBSTONES:
            del self.touched[next(iter(self.touched))]

    def ended(self, fingerprint: str) -> float | None:
        """The end of the alert's last resolved episode known here."""
        return self._resolved.get(fingerprint)

    def sync(
        self,
        fingerprints: Iterable[str],
        stored: Mapping[str, Instance],
        ends: Mapping[str, float],
        spoke: Mapping[str, float],
        mark: int,
        busy: Container[str] = (),
    ) -> list[str]:
        """Take the store's word for these alerts (read when :attr:`seq` was ``mark``):
        an alert stored is known here (the stored episode replaces an older one kept
        here), an episode end stored keeps late copies out, and an alert open here but
        no longer stored was resolved by another member: it goes, and its fingerprint
        is returned (to close its escalation). An alert changed here since ``mark``, or
        whose save is under way (``busy``), keeps what this member knows. ``spoke``: the
        sources' last words, any member's."""
        for name, at in spoke.items():
            if name in self._sources and at > self.last_spoke.get(name, float("-inf")):
                self.last_spoke[name] = at
        gone = []
        for fp in fingerprints:
            if self.touched.get(fp, -1) > mark or fp in busy:
                continue
            end = ends.get(fp)
            if end is not None:
                self._remember(fp, end)
            mine = self._alerts.get(fp)
            row = stored.get(fp)
            theirs = None if row is None else self._revive(row)
            if theirs is not None:
                if mine is None or mine.state.fired_at != theirs.state.fired_at:
                    self._alerts[fp] = theirs
                    if fp in self.flapping:
                        self.flapping[fp] = theirs
            elif mine is not None:
                del self._alerts[fp]
                gone.append(fp)
        return gone

    # -- intake ---------------------------------------------------------------

    def source(self, name: str) -> Source | None:
        return self._sources.get(name)

    def get(self, fingerprint: str) -> External | None:
        return self._alerts.get(fingerprint)

    def checkpoint(self, name: str, batch: Sequence[Inbound]) -> Checkpoint:
        """The book's word on ``batch``'s alerts now (see :meth:`undo`)."""
        fps = list(dict.fromkeys(external_fingerprint(name, i.key) for i in batch))
        alerts = {fp: _copied(self._alerts.get(fp)) for fp in fps}
        changes = {fp: deque(c, c.maxlen) if (c := self._changes.get(fp)) else None for fp in fps}
        return Checkpoint(
            name,
            self.last_spoke.get(name),
            alerts,
            {fp: self._resolved.get(fp) for fp in fps},
            changes,
            {fp: self.flapping.get(fp) for fp in fps},
        )

    def undo(self, cp: Checkpoint) -> None:
        """Undo a batch the store did not save: its alerts as they were before."""
        _put(self._alerts, cp.alerts)
        _put(self._resolved, cp.resolved)
        _put(self._changes, cp.changes)
        _put(self.flapping, cp.flapping)
        _put(self.last_spoke, {cp.source: cp.spoke})

    def take(self, name: str, batch: Sequence[Inbound], now: float) -> Taken:
        """Decide what ``batch`` from source ``name`` changes (see the module docstring)."""
        source = self._sources[name]
        self.last_spoke[name] = now
        self.seq += 1
        taken = Taken()
        for inbound in batch:
            fp = external_fingerprint(name, inbound.key)
            self.touched.pop(fp, None)
            self.touched[fp] = self.seq
            alert = self._alerts.get(fp)
            if inbound.status == "firing":
                self._fire(source, fp, alert, inbound, now, taken)
            elif inbound.status == "resolved":
                self._resolve(fp, alert, inbound, now, taken)
            elif alert is not None:
                taken.acknowledge.append(fp)
                taken.count("acknowledged")
            else:
                taken.count("unknown")
        self._forget_touches()
        return taken

    def _fire(
        self,
        source: Source,
        fp: str,
        alert: External | None,
        inbound: Inbound,
        now: float,
        taken: Taken,
    ) -> None:
        if alert is not None:
            if _text(alert) != _text(inbound) or _later(inbound.starts_at, alert.starts_at):
                alert.summary, alert.description = inbound.summary, inbound.description
                alert.runbook, alert.link = inbound.runbook, inbound.link
                if _later(inbound.starts_at, alert.starts_at):
                    alert.starts_at = inbound.starts_at
                alert.pack()
                taken.changed.append(alert)
            taken.count("repeated")
            return
        ended = self._resolved.get(fp)
        if ended is not None and inbound.starts_at is not None and inbound.starts_at <= ended:
            taken.count("stale")  # a late copy of an episode already resolved
            return
        labels = dict(inbound.labels)
        severity, escalation, extra = classify(source, labels)
        alert = External(
            labels.get("alertname") or source.name, source.name, (),
            AlertState("firing", inbound.starts_at or now, now, now), None,
            source=source.name, key=inbound.key, own=inbound.labels, severity=severity,
            escalation=escalation, extra=extra, summary=inbound.summary,
            description=inbound.description, runbook=inbound.runbook, link=inbound.link,
            starts_at=inbound.starts_at,
        )  # fmt: skip
        alert.pack()
        self._alerts[fp] = alert
        self._resolved.pop(fp, None)
        taken.transitions.append(Transition("firing", alert, severity, now))
        taken.count("fired")
        self._changed(fp, alert, now, taken)

    def _resolve(
        self, fp: str, alert: External | None, inbound: Inbound, now: float, taken: Taken
    ) -> None:
        # an episode cannot have ended after it was reported (a skewed clock, a typo)
        ended = now if inbound.ends_at is None else min(inbound.ends_at, now)
        if alert is None:
            self._remember(fp, ended)
            taken.ended.append(fp)
            taken.count("repeated")
            return
        began = alert.starts_at
        if began is not None and (
            (inbound.starts_at is not None and inbound.starts_at < began)
            or (inbound.ends_at is not None and inbound.ends_at < began)
        ):
            taken.count("stale")  # the end of an earlier episode, delivered late
            return
        del self._alerts[fp]
        self._remember(fp, ended)
        taken.ended.append(fp)
        taken.transitions.append(Transition("resolved", alert, alert.severity, now))
        taken.count("resolved")
        self._changed(fp, alert, now, taken)

    def _changed(self, fp: str, alert: External, now: float, taken: Taken) -> None:
        """Count a fire or resolve; the one that makes it flap is announced."""
        self._changes.setdefault(fp, deque(maxlen=FLAP_START)).append(now)
        if fp in self.flapping:
            self.flapping[fp] = alert  # the newest firing is the one shown
        elif self._recent(fp, now) >= FLAP_START:
            self.flapping[fp] = alert
            taken.transitions.append(Transition("flapping", alert, alert.severity, now))

    def _recent(self, fp: str, now: float) -> int:
        return sum(1 for t in self._changes.get(fp, ()) if t > now - FLAP_WINDOW)

    def _remember(self, fp: str, ended: float) -> None:
        self._resolved[fp] = max(ended, self._resolved.pop(fp, ended))
        while len(self._resolved) > TOMBSTONES:
            del self._resolved[next(iter(self._resolved))]

    def open_counts(self) -> dict[str, int]:
        """Open alerts per source."""
        counts = dict.fromkeys(self._sources, 0)
        for alert in self._alerts.values():
            counts[alert.source] = counts.get(alert.source, 0) + 1
        return counts


def _copied(alert: External | None) -> External | None:
    """A copy (the book updates an open alert's text in place)."""
    return None if alert is None else copy.copy(alert)


def _put(into: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            into.pop(key, None)
        else:
            into[key] = value


def _text(item: External | Inbound) -> tuple[str, str, str | None, str | None]:
    return (item.summary, item.description, item.runbook, item.link)


def _later(new: float | None, old: float | None) -> bool:
    return new is not None and (old is None or new > old)
