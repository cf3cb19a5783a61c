"""Incident status updates (issue 20): the status an incident is in, the update that
moves it, and when the person handling it should be reminded to write one.

Pure decisions of the incident's timeline and ``now``; the escalator sends, the store
keeps. An incident is ``investigating`` until an update says otherwise (``identified``,
``monitoring``, ``resolved``), and ``resolved`` once its alert resolves. An update is a
timeline event of kind ``update`` whose ``detail`` holds ``status``, ``text``,
``next_steps``, ``eta`` (unix time or None), ``by`` and ``sms``; a reminder is an event
of kind ``reminded``. Nothing new in the schema: both ride in the events' ``detail``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sentinel.clock import iso
from sentinel.escalation.incidents import Incident, IncidentEvent, shown_target
from sentinel.notify.base import StatusUpdate

STATUSES = ("investigating", "identified", "monitoring", "resolved")
MAX_UPDATE = 2000  # characters of progress or next steps: a message, not a write-up
DEFAULT_REMIND_AFTER = {"critical": 1800.0}  # the runbooks' "update every 30 minutes"


class UpdateRefused(ValueError):
    """An update that cannot be taken; the message is one line for the person who sent it."""


class IncidentClosed(UpdateRefused):
    """The incident is over (resolved, or no longer escalating): nobody is to be told."""


def status_of(incident: Incident, events: Sequence[IncidentEvent]) -> str:
    """``resolved`` once the alert resolved, else the latest update's status."""
    if incident.resolved_at is not None:
        return "resolved"
    latest = latest_update(events)
    return str(latest.detail["status"]) if latest is not None else "investigating"


def latest_update(events: Sequence[IncidentEvent]) -> IncidentEvent | None:
    found = [e for e in events if e.kind == "update" and "status" in e.detail]
    return max(found, key=lambda e: e.at) if found else None


@dataclass(frozen=True, slots=True)
class Draft:
    """An update as someone wrote it, before :func:`new_update` checks it.

    ``eta_in``: seconds from now until it should be over; ``sms``: text the people
    told by SMS too."""

    status: str
    text: str
    by: str = ""
    next_steps: str = ""
    eta_in: float | None = None
    sms: bool = False


def new_update(incident: Incident, draft: Draft, now: float) -> tuple[IncidentEvent, StatusUpdate]:
    """The timeline event and the notice's update; UpdateRefused when it cannot be taken."""
    status, eta_in = draft.status, draft.eta_in
    if incident.resolved_at is not None:
        raise IncidentClosed(
            f"{incident.id} resolved at {iso(incident.resolved_at)}: an update would reach "
            "people after the all-clear; add a note or the write-up instead"
        )
    if status not in STATUSES:
        raise UpdateRefused(f"status must be one of {', '.join(STATUSES)} (got {status[:40]!r})")
    text, next_steps, by = draft.text.strip(), draft.next_steps.strip(), draft.by.strip()[:100]
    if not text:
        raise UpdateRefused("the update's text (progress) is required")
    for name, value in (("text", text), ("next_steps", next_steps)):
        if len(value) > MAX_UPDATE:
            raise UpdateRefused(f"{name} is longer than {MAX_UPDATE} characters")
    if eta_in is not None and eta_in <= 0:
        raise UpdateRefused("eta must be a positive duration, like 30m")
    eta = None if eta_in is None else now + eta_in
    update = StatusUpdate(incident.id, status, text, next_steps, eta, by)
    detail = {
        "status": status,
        "text": text,
        "next_steps": next_steps,
        "eta": eta,
        "by": by,
        "sms": draft.sms,
    }
    line = f"{status}: {text}" + (f" (by {by})" if by else "")
    return IncidentEvent(now, "update", line, detail), update


def remind_after(severity: str, configured: Mapping[str, float]) -> float | None:
    """Seconds without an update before a reminder for this severity; None: never."""
    return configured.get(severity)


def reminder_due(
    incident: Incident,
    events: Sequence[IncidentEvent],
    now: float,
    configured: Mapping[str, float],
) -> bool:
    """True when an incident still ``investigating`` has had no update, and no reminder,
    for its severity's interval. An update of any status restarts the interval; one that
    leaves ``investigating`` stops the reminders."""
    interval = remind_after(incident.severity, configured)
    if interval is None or status_of(incident, events) != "investigating":
        return False
    marks = [e.at for e in events if e.kind in ("update", "reminded")]
    last = max([incident.started_at, *marks])
    return now - last >= interval


def reminder_event(incident: Incident, now: float, who: Sequence[str]) -> IncidentEvent:
    shown = [shown_target(t, False) for t in who]
    text = f"reminded {', '.join(shown) or 'nobody'}: no status update yet"
    return IncidentEvent(now, "reminded", text, {"targets": list(who)})
