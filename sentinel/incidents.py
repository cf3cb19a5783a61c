"""Incident records: one per alert that fires, with its timeline and the write-up.

An incident opens when an alert starts escalating (fired, not suppressed) and
closes when it resolves. Its id reads ``INC-YYYYMMDD-HHMMSS-xxxx`` (UTC start,
then four characters of the alert id), and its timeline holds what happened:
``fired``, ``notified`` (whom, through what), ``escalated``, ``acknowledged``,
``unacknowledged``, ``resolved``, ``note``. Root cause, resolution and
preventive measures are filled in afterwards (API). Export as JSON and as a
Markdown post-incident template.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sentinel.clock import iso
from sentinel.notify.render import human_duration

EventKind = Literal[
    "fired", "notified", "escalated", "acknowledged", "unacknowledged", "resolved", "note"
]


def incident_id(fingerprint: str, started_at: float) -> str:
    stamp = datetime.fromtimestamp(started_at, UTC).strftime("%Y%m%d-%H%M%S")
    return f"INC-{stamp}-{fingerprint[:4]}"


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    at: float
    kind: EventKind
    text: str  # one line for people: "paged alice by sms (+15550100001)"
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

    def to_json(self, events: list[IncidentEvent] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        out.update(
            started_at=iso(self.started_at),
            acked_at=iso(self.acked_at),
            resolved_at=iso(self.resolved_at),
            duration_seconds=self.duration,
            state="resolved" if self.resolved_at else "acknowledged" if self.acked_at else "open",
        )
        if events is not None:
            out["timeline"] = [
                {"at": iso(e.at), "kind": e.kind, "text": e.text, "detail": e.detail}
                for e in events
            ]
        return out


def to_markdown(incident: Incident, events: list[IncidentEvent]) -> str:
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
        *[f"- {when(e.at)} {e.kind}: {e.text}" for e in events],
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
