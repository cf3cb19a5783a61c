"""Incident records: one per alert that fires, with its timeline and the write-up.

An incident opens when an alert starts escalating (fired, not suppressed) and
closes when it resolves. Its id reads ``INC-YYYYMMDD-HHMMSS-xxxx`` (UTC start,
then four characters of the alert id), and its timeline holds what happened:
``fired``, ``notified`` (whom, through what), ``escalated``, ``acknowledged``,
``unacknowledged``, ``resolved``, ``note``, ``update`` (a status update:
:mod:`sentinel.escalation.updates`), ``reminded``. Root cause, resolution and
preventive measures are filled in afterwards (API). Export as JSON and as a
Markdown post-incident template.

Contact details: a ``notified`` event keeps the address it went to in
``detail["address"]`` and an ``escalated`` event its targets in
``detail["targets"]``; the stored ``text`` never holds an address. Readers
without the API token get :func:`event_view` with ``with_contacts=False``: contact
and channel names, no addresses (rows written before this rendering embed the
address in ``text``; they are rebuilt from ``detail`` the same way).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sentinel.clock import iso
from sentinel.notify.render import human_duration

EventKind = Literal[
    "fired",
    "notified",
    "escalated",
    "acknowledged",
    "unacknowledged",
    "resolved",
    "note",
    "update",  # a status update (sentinel.escalation.updates), issue 20
    "reminded",  # nobody wrote an update for a while: the handler was reminded
]


HIDDEN = "(hidden)"
_OLD_STEP = re.compile(r"(step \d+): (.*)")


def shown_target(target: str, with_contacts: bool) -> str:
    """A notify target as a reader may see it. ``email:ops@example.com`` names an
    address: without the token it reads ``email:(hidden)``. Channel and contact names
    and ``oncall:<schedule>`` are shown to everyone."""
    kind, sep, _ = target.partition(":")
    if with_contacts or not sep or kind == "oncall":
        return target
    return f"{kind}:{HIDDEN}"


def notice_text(kind: str, target: str, channel: str, address: str | None) -> str:
    """``firing notice to alice via sms (+15550100001)``; no address: the name alone."""
    return f"{kind} notice to {target} via {channel}" + (f" ({address})" if address else "")


def step_text(step: int, targets: list[str] | tuple[str, ...]) -> str:
    """``step 2: alice, slack-ops`` for the step at index ``step``."""
    return f"step {step + 1}: {', '.join(targets)}"


def event_text(e: IncidentEvent, with_contacts: bool) -> str:
    """The event's line for a reader, with or without contact details."""
    d = e.detail
    if e.kind == "notified" and "target" in d and "channel" in d:
        if with_contacts and "address" not in d:
            return e.text  # written before addresses moved to detail: the text has it
        address = d.get("address") if with_contacts else None
        target = shown_target(str(d["target"]), with_contacts)
        return notice_text(str(d.get("kind", "")), target, str(d["channel"]), address)
    if e.kind == "escalated" and "targets" in d and "step" in d:
        targets = [shown_target(str(t), with_contacts) for t in d["targets"]]
        return step_text(int(d["step"]), targets)
    if e.kind == "escalated" and not with_contacts:
        old = _OLD_STEP.fullmatch(e.text)  # written before targets moved to detail
        if old is not None:
            targets = [shown_target(t, False) for t in old.group(2).split(", ")]
            return f"{old.group(1)}: {', '.join(targets)}"
    return e.text


def event_view(e: IncidentEvent, with_contacts: bool) -> dict[str, Any]:
    detail = dict(e.detail)
    if not with_contacts:
        detail.pop("address", None)
        if "target" in detail:
            detail["target"] = shown_target(str(detail["target"]), False)
        if isinstance(detail.get("targets"), list):
            detail["targets"] = [shown_target(str(t), False) for t in detail["targets"]]
    return {"at": iso(e.at), "kind": e.kind, "text": event_text(e, with_contacts), "detail": detail}


def incident_id(fingerprint: str, started_at: float) -> str:
    stamp = datetime.fromtimestamp(started_at, UTC).strftime("%Y%m%d-%H%M%S")
    return f"INC-{stamp}-{fingerprint[:4]}"


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    at: float
    kind: EventKind
    text: str  # one line for people, without addresses: "firing notice to alice via sms"
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    fingerprint: str
    rule: str
    check: str
    severity: str
    title: str
    started_at: float
    acked_at: float | None = None
    acked_by: str | None = None
    resolved_at: float | None = None
    root_cause: str = ""
    resolution: str = ""
    preventive: str = ""

    @property
    def duration(self) -> float | None:
        return None if self.resolved_at is None else self.resolved_at - self.started_at

    @property
    def time_to_ack(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.started_at

    def to_json(
        self, events: list[IncidentEvent] | None = None, with_contacts: bool = False
    ) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        out.update(
            started_at=iso(self.started_at),
            acked_at=iso(self.acked_at),
            resolved_at=iso(self.resolved_at),
            duration_seconds=self.duration,
            state="resolved" if self.resolved_at else "acknowledged" if self.acked_at else "open",
        )
        if events is not None:
            out["timeline"] = [event_view(e, with_contacts) for e in events]
        return out


def to_markdown(
    incident: Incident, events: list[IncidentEvent], with_contacts: bool = False
) -> str:
    """The post-incident template, filled with what sentinel knows."""
    i = incident

    def when(ts: float | None) -> str:
        return iso(ts) or "-"

    lines = [
        f"# {i.id}: {i.title}",
        "",
        f"- Severity: {i.severity}",
        f"- Alert: {i.rule} on {i.check} (`{i.fingerprint}`)",
        f"- Started: {when(i.started_at)}",
        f"- Acknowledged: {when(i.acked_at)}" + (f" by {i.acked_by}" if i.acked_by else ""),
        f"- Resolved: {when(i.resolved_at)}",
        f"- Duration: {human_duration(i.duration) if i.duration is not None else 'ongoing'}",
        "",
        "## Timeline (UTC)",
        "",
        *[f"- {when(e.at)} {e.kind}: {event_text(e, with_contacts)}" for e in events],
        "",
        "## Root cause",
        "",
        i.root_cause or "_to be written_",
        "",
        "## Resolution",
        "",
        i.resolution or "_to be written_",
        "",
        "## Preventive measures",
        "",
        i.preventive or "_to be written_",
        "",
    ]
    return "\n".join(lines)
