"""The incident desk (issue 20): takes status updates and sends them, and reminds the
person handling an incident that nobody has written one for a while.

Decisions are in :mod:`sentinel.escalation.updates`; who was told, and the outbox
rows, are the escalator's (:meth:`Escalator.update`, :meth:`Escalator.remind`).
An update is recorded on the timeline, then sent; one for an incident that sentinel
no longer escalates (its alert resolved, or it is an earlier firing's) is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from sentinel.clock import Clock
from sentinel.config.models import Config
from sentinel.escalation.escalator import Escalator
from sentinel.escalation.incidents import Incident
from sentinel.escalation.ledger import EscalationStore
from sentinel.escalation.updates import (
    Draft,
    IncidentClosed,
    new_update,
    reminder_due,
    reminder_event,
    status_of,
)
from sentinel.notify.base import Notice, StatusUpdate

log = structlog.get_logger("sentinel.incidents")
REMIND_TICK = 60.0  # seconds between two looks for incidents that need a reminder


class NoSuchIncident(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Posted:
    incident: Incident
    status: str
    recipients: int  # outbox rows written: one per address told

    def to_json(self) -> dict[str, Any]:
        return {"id": self.incident.id, "status": self.status, "recipients": self.recipients}


def remind_whom(
    acked_by: str | None, contacts: Mapping[str, object], first_step: Sequence[str]
) -> list[str]:
    """The acknowledger when they are a configured contact, else the first step's targets.
    ``acked_by`` says how too ("alice via slack"): the contact is the part before."""
    who = acked_by.rsplit(" via ", 1)[0] if acked_by else None
    if who and who in contacts:
        return [who]
    return list(first_step)


class Desk:
    def __init__(
        self,
        escalator: Escalator,
        store: EscalationStore,
        clock: Clock,
        config: Callable[[], Config],
    ) -> None:
        self._escalator = escalator
        self._store = store
        self._clock = clock
        self._config = config

    async def post(self, incident_id: str, draft: Draft) -> Posted:
        """Record and send one update; NoSuchIncident or UpdateRefused (one line) if not."""
        found = await self._store.incident(incident_id)
        if found is None:
            raise NoSuchIncident(incident_id)
        incident, _ = found
        now = self._clock.now().timestamp()
        event, update = new_update(incident, draft, now)
        current = self._escalator.journal.open.get(incident.fingerprint)
        if current is None or current.id != incident.id:
            raise IncidentClosed(
                f"{incident.id} is not escalating any more: nobody is being told about it"
            )
        await self._store.add_incident_events(incident.id, [event])
        notice = Notice(kind="update", at=now, update=update)
        sent = await self._escalator.update(incident.fingerprint, notice, sms=draft.sms)
        log.info("incident_update", incident=incident.id, status=draft.status, recipients=sent or 0)
        return Posted(incident, draft.status, sent or 0)

    async def remind_due(self) -> list[str]:
        """Remind whoever handles each open incident still ``investigating`` with no
        update for its severity's ``incidents.remind_after``; the ids reminded."""
        config = self._config()
        intervals: dict[str, float] = {str(k): v for k, v in config.incidents.remind_after.items()}
        now = self._clock.now().timestamp()
        reminded: list[str] = []
        for fp, opened in list(self._escalator.journal.open.items()):
            progress = self._escalator.progress.get(fp)
            found = await self._store.incident(opened.id)
            if progress is None or progress.paused or found is None:
                continue  # a silenced or suspended incident does not nag
            incident, events = found
            if not reminder_due(incident, events, now, intervals):
                continue
            steps = progress.policy.steps
            whom = remind_whom(incident.acked_by, config.contacts, steps[0].notify if steps else ())
            update = StatusUpdate(incident.id, status_of(incident, events), "")
            notice = Notice(kind="reminder", at=now, update=update)
            await self._store.add_incident_events(
                incident.id, [reminder_event(incident, now, whom)]
            )
            await self._escalator.remind(fp, notice, whom)
            reminded.append(incident.id)
        return reminded

    async def run(self) -> None:
        """Look for incidents that need a reminder every :data:`REMIND_TICK` seconds."""
        while True:
            await self._clock.sleep(REMIND_TICK)
            try:
                await self.remind_due()
            except Exception as exc:
                log.error("incident_remind_failed", error=type(exc).__name__)
