"""Keeps each escalation's incident record: opened when it starts, its timeline as it
goes (who was told through what, steps, acks), closed when the alert resolves.

A failure to write the journal is logged and never stops a page.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from sentinel.escalation.incidents import (
    EventKind,
    Incident,
    IncidentEvent,
    incident_id,
    notice_text,
    shown_target,
    step_text,
)
from sentinel.escalation.policy import Page
from sentinel.notify.base import AlertFacts
from sentinel.notify.outbox import Delivery
from sentinel.store.protocols import IncidentStore

log = structlog.get_logger("sentinel.incidents")


class Journal:
    def __init__(self, store: IncidentStore) -> None:
        self._store = store
        self.open: dict[str, Incident] = {}  # alert fingerprint -> its open incident

    async def restore(self) -> None:
        for i in await self._store.open_incidents():
            self.open[i.fingerprint] = i

    async def opened(self, facts: AlertFacts, now: float) -> None:
        if facts.fingerprint in self.open:
            return
        started = facts.since if facts.since is not None else now
        i = Incident(
            id=incident_id(facts.fingerprint, started),
            fingerprint=facts.fingerprint,
            rule=facts.rule,
            check=facts.check,
            severity=facts.severity,
            title=facts.summary or f"{facts.rule} on {facts.check}",
            started_at=started,
        )
        self.open[facts.fingerprint] = i
        text = f"{facts.rule} fired on {facts.check}" + (
            f": {facts.reason}" if facts.reason else ""
        )
        await self._save(i, [IncidentEvent(started, "fired", text, {"value": facts.value})])

    async def paged(self, fingerprint: str, pages: list[Page], now: float) -> None:
        events = [
            IncidentEvent(
                now,
                "escalated",
                step_text(p.step, [shown_target(t, False) for t in p.targets]),
                {"kind": p.kind, "step": p.step, "targets": list(p.targets)},
            )
            for p in pages
            if p.kind in ("escalation", "reescalation", "repeat")
        ]
        await self._events(fingerprint, events)

    async def notified(self, d: Delivery) -> None:
        """A notice the provider accepted (the dispatcher's on_sent hook)."""
        if not d.fingerprint or d.fingerprint not in self.open:
            return
        # The address goes to detail only; readers without the token never see it.
        event = IncidentEvent(
            d.sent_at or d.created_at,
            "notified",
            notice_text(d.notice.kind, shown_target(d.target, False), d.channel, None),
            {
                "channel": d.channel,
                "target": d.target,
                "kind": d.notice.kind,
                "address": d.address,
            },
        )
        await self._events(d.fingerprint, [event])

    async def acknowledged(self, fingerprint: str, by: str | None, now: float) -> None:
        i = self.open.get(fingerprint)
        if i is None:
            return
        if by is None:
            i = replace(i, acked_at=None, acked_by=None)
            event = IncidentEvent(now, "unacknowledged", "acknowledgement withdrawn")
        else:
            i = replace(i, acked_at=i.acked_at or now, acked_by=i.acked_by or by)
            event = IncidentEvent(now, "acknowledged", f"acknowledged by {by}")
        self.open[fingerprint] = i
        await self._save(i, [event])

    async def note(self, fingerprint: str, kind: EventKind, text: str, now: float) -> None:
        """One line on the open incident's timeline (a call not answered, escalate now)."""
        await self._events(fingerprint, [IncidentEvent(now, kind, text)])

    async def resolved(self, fingerprint: str, now: float) -> None:
        i = self.open.pop(fingerprint, None)
        if i is None:
            return
        i = replace(i, resolved_at=now)
        await self._save(i, [IncidentEvent(now, "resolved", "the alert resolved")])

    async def _events(self, fingerprint: str, events: list[IncidentEvent]) -> None:
        i = self.open.get(fingerprint)
        if i is None or not events:
            return
        try:
            await self._store.add_incident_events(i.id, events)
        except Exception as exc:
            log.error("incident_write_failed", incident=i.id, error=type(exc).__name__)

    async def _save(self, i: Incident, events: list[IncidentEvent]) -> None:
        try:
            await self._store.save_incident(i, events)
        except Exception as exc:
            log.error("incident_write_failed", incident=i.id, error=type(exc).__name__)
