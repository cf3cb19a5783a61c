"""The escalation room's shell: keeps each firing alert's progress, asks the pure
policy what is due, turns pages into outbox rows, and writes both at once.

    rule transition / tick / ack  ->  policy (pure)  ->  targets (pure)  ->  outbox rows
                                          |                                      |
                                     progress  ----- one store transaction -----+
                                                                                 |
                                                                        dispatcher.submit

An alert starts escalating the first time it is firing, not suppressed
(silence, maintenance, inhibition, a failed dependency) and not flapping:
a suppressed alert never pages, and one that stops being suppressed while
still firing starts then. While an escalation runs, a suppression pauses it.
Resolutions and acknowledgements always reach everyone already told in this
firing (:attr:`AlertFacts.firing`), never people told about an earlier outage
of the same alert. A step waits until the earlier steps' notices have left the
dispatcher (sent, merged into a digest, or failed for good), unless their
channel's provider is failing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import structlog

from sentinel.clock import Clock
from sentinel.config.models import Config
from sentinel.escalation import policy as pol
from sentinel.escalation.incidents import shown_target
from sentinel.escalation.journal import Journal
from sentinel.escalation.targets import resolve
from sentinel.metrics import Metrics
from sentinel.notify.base import AlertFacts, Kind, Notice
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.outbox import Delivery, Route
from sentinel.store.protocols import IncidentStore, OutboxStore

log = structlog.get_logger("sentinel.escalation")
NOTICE_KIND: dict[str, Kind] = {
    "firing": "firing",
    "escalation": "escalation",
    "reescalation": "escalation",
    "repeat": "repeat",
    "acknowledged": "acknowledged",
    "resolved": "resolved",
}
PAGING = frozenset({"firing", "escalation", "repeat"})  # notice kinds a step sends


Snapshot = tuple[dict[str, pol.Progress], dict[str, AlertFacts]]
# Several replicas: two members' views of one outage fire this far apart at most (a
# few check intervals); a firing further from the stored escalation's is a new outage.
SAME_OUTAGE = 60.0


def same_outage(kept: AlertFacts, live: AlertFacts) -> bool:
    """Whether ``live`` (this member's view of the alert) is the outage the stored
    escalation ``kept`` is about: both fired, within :data:`SAME_OUTAGE` of each other."""
    if kept.since is None or live.since is None:
        return False
    return abs(live.since - kept.since) <= SAME_OUTAGE


@dataclass(frozen=True, slots=True)
class Live:
    """A firing alert as the escalator needs to see it on each tick."""

    facts: AlertFacts
    quiet: str | None  # why it is suppressed now, if it is
    flapping: bool
    policy: str | None  # a named policy of the rule, else None for the severity's


class EscalationStore(OutboxStore, IncidentStore, Protocol):
    """The escalator's progress and outbox rows, and its journal's incidents."""


class Gate(Protocol):
    """Several replicas (sentinel.cluster.claims): which alerts this member may
    escalate. Without a gate (one process) it escalates every alert it sees."""

    def acting(self) -> bool:
        """This member may escalate at all (its lease holds, its schema is current)."""
        ...

    async def hold(self, fingerprints: list[str]) -> tuple[set[str], set[str]]:
        """Claim or renew these alerts' escalations: (held now, newly gained)."""
        ...

    async def release(self, fingerprints: list[str]) -> None: ...


class Escalator:
    def __init__(
        self,
        config: Config,
        store: EscalationStore,
        dispatcher: Dispatcher,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock
        self._metrics = metrics
        self.progress: dict[str, pol.Progress] = {}
        self.facts: dict[str, AlertFacts] = {}
        self.journal = Journal(store)
        self.gate: Gate | None = None
        dispatcher.on_sent.append(self.journal.notified)

    async def restore(self) -> None:
        await self.journal.restore()
        for data in await self._store.load_escalations():
            try:
                p = pol.Progress.from_json(data["progress"])
                self.facts[p.fingerprint] = AlertFacts(**data["facts"])
            except (KeyError, TypeError, ValueError) as exc:
                log.error("escalation_restore_failed", error=type(exc).__name__)
                continue
            self.progress[p.fingerprint] = p

    def configure(self, config: Config) -> None:
        """A reload changes targets' meaning (contacts, channels), never a running policy."""
        self.config = config

    # -- events --------------------------------------------------------------

    async def _gated(self, fingerprints: list[str]) -> set[str] | None:
        """With a gate: the alerts of ``fingerprints`` this member escalates, their
        progress read again from the store (the store is the truth; another member may
        have moved or acknowledged it); the rest are forgotten here. None: no gate."""
        if self.gate is None:
            return None
        if not self.gate.acting():
            return set()
        held, gained = await self.gate.hold(fingerprints)
        if gained:
            await self.journal.restore()  # the incident another member opened
        for fp in fingerprints:
            if fp not in held:
                self.progress.pop(fp, None)
                self.facts.pop(fp, None)
        if held:
            stored = await self._stored()
            for fp in held:
                if fp in stored:
                    self.progress[fp], self.facts[fp] = stored[fp]
                else:
                    self.progress.pop(fp, None)
        return held

    async def _stored(self) -> dict[str, tuple[pol.Progress, AlertFacts]]:
        out = {}
        for data in await self._store.load_escalations():
            try:
                p = pol.Progress.from_json(data["progress"])
                out[p.fingerprint] = (p, AlertFacts(**data["facts"]))
            except (KeyError, TypeError, ValueError) as exc:
                log.error("escalation_restore_failed", error=type(exc).__name__)
        return out

    async def tick(self, live: dict[str, Live]) -> None:
        """Start, pause, resume and advance escalations for the firing alerts ``live``."""
        if self.gate is not None:
            if not live or not self.gate.acting():
                return
            held = await self._gated(list(live)) or set()
            live = {fp: a for fp, a in live.items() if fp in held}
        for fp, alert in list(live.items()):
            kept = self.facts.get(fp)
            if fp in self.progress and kept is not None and kept.firing != alert.facts.firing:
                if self.gate is not None and same_outage(kept, alert.facts):
                    # Another member started this escalation from its own view of the
                    # alert (it fired there a moment apart): the escalation's identity stays.
                    live[fp] = replace(alert, facts=replace(alert.facts, since=kept.since))
                    continue
                # The outage this escalation was for ended unseen (a crash between the
                # alert's resolution and its notices): close it before the new one.
                await self.resolved(fp)
        now = self._now()
        before = self._snapshot()
        unsettled = self._unsettled()
        changed: list[pol.Progress] = []
        deliveries: list[Delivery] = []
        started: list[AlertFacts] = []
        paged: list[tuple[str, list[pol.Page]]] = []
        for fp, alert in live.items():
            current = self.progress.get(fp)
            if current is None:
                if alert.quiet is not None or alert.flapping:
                    continue
                policy = pol.policy_for(self.config.escalation, alert.facts.severity, alert.policy)
                current = pol.start(fp, policy, now)
                log.info("escalation_started", fingerprint=fp, policy=policy.name)
                self.progress[fp] = current
                changed.append(current)
                started.append(alert.facts)
            self.facts[fp] = alert.facts
            quiet = alert.quiet is not None
            if current.paused != quiet:
                current = pol.pause(current, quiet, now)
                self.progress[fp] = current
                if current not in changed:
                    changed.append(current)
            nxt, pages = pol.due(current, now, unsettled.get(alert.facts.firing, frozenset()))
            if pages or nxt != current:
                self.progress[fp] = nxt
                changed = [p for p in changed if p.fingerprint != fp] + [nxt]
            deliveries += self._deliveries(nxt, alert.facts, pages, now)
            if pages:
                paged.append((fp, pages))
        for facts in started:  # the record opens before its first notice can be logged
            await self.journal.opened(facts, now)
        if changed or deliveries:
            await self._commit(changed, [], deliveries, now, undo=before)
        for fp, pages in paged:
            await self.journal.paged(fp, pages, now)

    async def resolved(self, fp: str) -> None:
        held = await self._gated([fp])
        if held is not None and fp not in held:
            return  # another member escalates it (or we may not act): it tells them
        current = self.progress.get(fp)
        if current is None:
            if held:
                await self._release(fp)
            return  # never paged: nobody to tell
        now = self._now()
        before = self._snapshot()
        done, pages = pol.resolve(current, now)
        facts = self.facts.get(fp)
        deliveries = [] if facts is None else await self._follow_up(done, facts, pages, now)
        root_cause = await self._root_cause(fp)
        if root_cause:
            deliveries = [
                d.with_(notice=replace(d.notice, root_cause=root_cause)) for d in deliveries
            ]
        del self.progress[fp]
        self.facts.pop(fp, None)
        await self._commit([], [fp], deliveries, now, undo=before)
        await self.journal.resolved(fp, now)
        if held:
            await self._release(fp)

    async def _release(self, fp: str) -> None:
        if self.gate is not None:
            try:
                await self.gate.release([fp])
            except Exception as exc:  # the claim runs out by itself
                log.warning("escalation_release_failed", error=type(exc).__name__)

    async def acknowledge(self, fp: str, by: str) -> bool:
        """Stop the escalation at once and tell everyone told so far; False if unknown."""
        await self._reread(fp)
        current = self.progress.get(fp)
        if current is None:
            return False
        now = self._now()
        nxt, pages = pol.acknowledge(current, by, now)
        if nxt == current:
            return True
        before = self._snapshot()
        self.progress[fp] = nxt
        facts = self.facts[fp]
        follow_up = await self._follow_up(nxt, facts, pages, now)
        await self._commit([nxt], [], follow_up, now, undo=before)
        await self.journal.acknowledged(fp, by, now)
        log.info("alert_acknowledged", fingerprint=fp, by=by)
        return True

    async def escalate_now(self, fp: str, by: str) -> bool:
        """Send the next step at once (a call's keypress "2"); False if nothing to send."""
        await self._reread(fp)
        current = self.progress.get(fp)
        if current is None:
            return False
        now = self._now()
        nxt, pages = pol.escalate_now(current, now)
        if not pages:
            return False
        self.progress[fp] = nxt
        await self._commit([nxt], [], self._deliveries(nxt, self.facts[fp], pages, now), now)
        await self.journal.note(fp, "escalated", f"escalated now by {by}", now)
        await self.journal.paged(fp, pages, now)
        log.info("escalated_now", fingerprint=fp, by=by, step=pages[0].step)
        return True

    async def unanswered(self, fp: str, sid: str, outcome: str) -> bool:
        """A call (Twilio ``sid``) for this firing was not answered (``outcome``: busy,
        no-answer, failed, canceled, machine_*): its delivery fails and the contact's
        next method gets the page. False when the call is unknown, already failed,
        or the alert was acknowledged or resolved meanwhile (nothing left to say)."""
        current = self.progress.get(fp)
        if current is None or current.acked or current.resolved:
            return False
        firing, now = self.facts[fp].firing, self._now()
        for d in await self._store.deliveries_for(fp):
            alert = d.notice.alert
            if (
                d.state == "sent"
                and d.ref is not None
                and sid in d.ref.get("sid", "").split(",")
                and alert is not None
                and alert.firing == firing
            ):
                await self.journal.note(
                    fp,
                    "note",
                    f"call to {shown_target(d.target, False)} not answered ({outcome})",
                    now,
                )
                await self._dispatcher.unanswered(d, outcome)
                return True
        return False

    async def _reread(self, fp: str) -> None:
        """With a gate, an ack or an escalate-now may reach any member: act on the
        stored progress (the member escalating the alert reads it back each tick)."""
        if self.gate is None:
            return
        found = (await self._stored()).get(fp)
        if found is None:
            self.progress.pop(fp, None)
        else:
            self.progress[fp], self.facts[fp] = found

    async def unacknowledge(self, fp: str) -> bool:
        await self._reread(fp)
        current = self.progress.get(fp)
        if current is None or not current.acked:
            return False
        nxt = pol.unacknowledge(current, self._now())
        before = self._snapshot()
        self.progress[fp] = nxt
        await self._commit([nxt], [], [], self._now(), undo=before)
        await self.journal.acknowledged(fp, None, self._now())
        return True

    async def flapping(self, facts: AlertFacts, policy: str | None) -> None:
        """One notice to the first step's targets instead of a stream of them."""
        held = await self._gated([facts.fingerprint])
        if held is not None and facts.fingerprint not in held:
            return
        now = self._now()
        steps = pol.policy_for(self.config.escalation, facts.severity, policy).steps
        if not steps:
            return
        notice = Notice(kind="flapping", at=now, alert=facts)
        key = f"flap:{facts.rule}:{facts.check}:{now}"
        await self._commit([], [], self._rows(key, notice, steps[0].notify, now), now)

    async def announce(self, key: str, notice: Notice, targets: Iterable[str]) -> None:
        """A notice that is not about an alert (a scheduled report) to these targets."""
        now = self._now()
        await self._commit([], [], self._rows(f"{key}:{now}", notice, targets, now), now)

    def _unsettled(self) -> dict[str, frozenset[int]]:
        """Per firing, the steps whose pages sentinel itself still holds: queued,
        rate-limited, or held for a storm digest (a permanent failure's fallback is
        queued again, so it counts). A channel whose provider is failing (a row in
        retry) holds nothing back: escalating is the answer to an unreachable
        on-call person, and a retry can last up to ``notifications.max_age``."""
        out: dict[str, set[int]] = {}
        for items in self._dispatcher.lanes().values():
            if any(d.attempts > 0 for d in items):
                continue
            for d in items:
                alert = d.notice.alert
                if alert is not None and d.notice.kind in PAGING:
                    out.setdefault(alert.firing, set()).add(d.notice.step)
        return {k: frozenset(v) for k, v in out.items()}

    # -- from pages to outbox rows ------------------------------------------

    def _deliveries(
        self, progress: pol.Progress, facts: AlertFacts, pages: Iterable[pol.Page], now: float
    ) -> list[Delivery]:
        out: list[Delivery] = []
        for page in pages:
            self._metrics.escalations.labels(page.kind).inc()
            # One key per decision: a repeated tick or a replayed step writes nothing new.
            key = f"{progress.fingerprint}:{progress.fired_at}:{page.kind}:{page.step}"
            key += f":{progress.repeats}:{progress.base}"
            out += self._rows(key, _notice(facts, page, now), page.targets, now)
        return out

    def _rows(self, key: str, notice: Notice, targets: Iterable[str], now: float) -> list[Delivery]:
        """One outbox row per route of each target, resolved now (on-call at send time)."""
        out: list[Delivery] = []
        at = self._clock.now()
        for target in targets:
            routes = resolve(self.config, target, at)
            if not routes:
                log.error("escalation_target_unreachable", target=target)
            for r in routes:
                out.append(_row(f"{key}:{target}", notice, target, r.route, now, r.fallback))
        return out

    async def _follow_up(
        self, progress: pol.Progress, facts: AlertFacts, pages: Iterable[pol.Page], now: float
    ) -> list[Delivery]:
        """Acks and resolutions go to the very addresses told before in this firing
        (the on-call person then, not now), found in the outbox; rows of an earlier
        outage of the same alert are someone else's episode."""
        told = await self._told(progress.fingerprint, facts)
        out: list[Delivery] = []
        for page in pages:
            self._metrics.escalations.labels(page.kind).inc()
            notice = _notice(facts, page, now)
            key = f"{progress.fingerprint}:{progress.fired_at}:{page.kind}:{now}"
            out += [_row(key, notice, target, route, now) for route, target in told.items()]
        return out

    async def _root_cause(self, fp: str) -> str:
        """The open incident's root cause, when its write-up has one already."""
        opened = self.journal.open.get(fp)
        if opened is None:
            return ""
        try:
            found = await self._store.incident(opened.id)
        except Exception as exc:  # the resolution goes out without it
            log.error("incident_read_failed", incident=opened.id, error=type(exc).__name__)
            return ""
        return found[0].root_cause.strip() if found else ""

    async def _told(self, fingerprint: str, facts: AlertFacts) -> dict[Route, str]:
        """Every address told about this firing so far, with the target that named it."""
        told: dict[Route, str] = {}
        for d in await self._store.deliveries_for(fingerprint):
            alert = d.notice.alert
            if (
                alert is not None
                and alert.firing == facts.firing
                and d.state in ("sent", "merged", "pending", "held")
                and d.notice.kind not in ("resolved", "update", "reminder")
            ):
                told.setdefault((d.channel, d.address), d.target)
        return told

    async def update(self, fp: str, notice: Notice, sms: bool = False) -> int | None:
        """An incident status update to every address told about this firing so far
        (SMS only when ``sms``; PagerDuty keeps its own incident, so never); None when the
        alert is not escalating, else the number of outbox rows written."""
        current, facts = self.progress.get(fp), self.facts.get(fp)
        if current is None or facts is None:
            return None
        now = self._now()
        told = await self._told(fp, facts)
        notice = replace(notice, alert=facts, at=now)
        # Two updates in the same instant are two messages: the text is part of the key.
        digest = hashlib.sha256(repr(notice.update).encode()).hexdigest()[:12]
        key = f"{fp}:{current.fired_at}:update:{now}:{digest}"
        rows = [_row(key, notice, target, route, now) for route, target in told.items()]
        rows = self._carrying(rows, sms)
        if rows:
            await self._commit([], [], rows, now)
        return len(rows)

    def _carrying(self, rows: list[Delivery], sms: bool) -> list[Delivery]:
        """Rows on channels that carry an incident's messages: PagerDuty keeps its own
        incident (never), SMS only when asked."""
        skip = {"pagerduty"} | (set() if sms else {"sms"})
        channels = self.config.channels
        return [d for d in rows if d.channel in channels and channels[d.channel].type not in skip]

    async def remind(self, fp: str, notice: Notice, targets: Iterable[str]) -> int:
        """A reminder to write a status update, to ``targets`` as they resolve now."""
        held = await self._gated([fp])
        if held is not None and fp not in held:
            return 0
        now = self._now()
        facts = self.facts.get(fp)
        notice = replace(notice, alert=facts, at=now)
        rows = self._carrying(self._rows(f"{fp}:remind:{now}", notice, targets, now), sms=True)
        if rows:
            await self._commit([], [], rows, now)
        return len(rows)

    async def _commit(
        self,
        changed: list[pol.Progress],
        finished: list[str],
        deliveries: list[Delivery],
        now: float,
        undo: Snapshot | None = None,
    ) -> None:
        """Write progress and outbox rows in one transaction, then hand the rows to the
        dispatcher. When the store fails, the in-memory progress goes back to ``undo``
        (what was last written), so the next tick decides the same pages again: a store
        outage delays a step, never loses it."""
        rows: list[tuple[str, dict[str, Any] | None]] = [
            (
                p.fingerprint,
                {"progress": p.to_json(), "facts": _facts_json(self.facts[p.fingerprint])},
            )
            for p in changed
        ]
        rows += [(fp, None) for fp in finished]
        held = self._dispatcher.hold_storms(deliveries)
        try:
            added = await self._store.commit_notifications(rows, held, now)
        except BaseException:
            if undo is not None:
                self.progress, self.facts = dict(undo[0]), dict(undo[1])
            raise
        self._dispatcher.submit(added)

    def _snapshot(self) -> Snapshot:
        return dict(self.progress), dict(self.facts)

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _row(
    key: str,
    notice: Notice,
    target: str,
    route: Route,
    now: float,
    fallback: tuple[Route, ...] = (),
) -> Delivery:
    """One outbox row, due now; ``key`` plus the route is its dedup key."""
    channel, address = route
    return Delivery(
        dedup=f"{key}:{channel}:{address}",
        fingerprint=notice.alert.fingerprint if notice.alert else "",
        target=target,
        channel=channel,
        address=address,
        notice=notice,
        next_at=now,
        created_at=now,
        fallback=fallback,
    )


def _notice(facts: AlertFacts, page: pol.Page, now: float) -> Notice:
    return Notice(
        kind=NOTICE_KIND[page.kind],
        at=now,
        alert=facts,
        step=page.step,
        acked_by=page.acked_by,
        duration=page.duration,
    )


def _facts_json(facts: AlertFacts) -> dict[str, Any]:
    return asdict(facts)
