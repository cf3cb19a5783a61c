"""The API's payloads for incidents and their timelines, on-call schedules and
maintenance windows (see :mod:`sentinel.web.models_base` for the shared pieces)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentinel.escalation.incidents import EventKind
from sentinel.web.models_base import (
    MAX_TEXT,
    Answer,
    Labels,
    Page,
    Severity,
    Time,
)


class Incident(Answer):
    id: Annotated[str, Field(pattern=r"^INC-\d{8}-\d{6}-[0-9A-Za-z]+$")]
    fingerprint: str
    rule: str
    check: str
    severity: Severity
    title: str
    state: Literal["open", "acknowledged", "resolved"]
    started_at: Time
    acked_at: Time | None
    acked_by: str | None
    resolved_at: Time | None
    duration_seconds: Annotated[float, Field(ge=0)] | None
    root_cause: str
    resolution: str
    preventive: str


class IncidentEvent(Answer):
    at: Time
    kind: EventKind
    text: str
    detail: dict[str, Any]


class IncidentDetail(Incident):
    timeline: list[IncidentEvent]
    """Oldest first."""


class Timeline(Answer):
    id: str
    timeline: list[IncidentEvent]


Text = Annotated[str, Field(max_length=MAX_TEXT)]


class IncidentUpdate(BaseModel):
    """At least one of root_cause, resolution, preventive or note (the handler checks that:
    a note of blanks is none). Validated as it is: the request model of PATCH."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        use_attribute_docstrings=True,
        json_schema_extra={
            "anyOf": [
                {"required": ["root_cause"]},
                {"required": ["resolution"]},
                {"required": ["preventive"]},
                {"required": ["note"]},
            ]
        },
    )

    root_cause: Text = ""
    resolution: Text = ""
    preventive: Text = ""
    note: Text = ""
    """Added to the timeline as a "note" event."""
    by: Text = "api"
    """Who writes (kept with a note; default `api`)."""


class Handoff(Answer):
    at: Time
    who: str
    reason: Literal["rotation", "override start", "override end"]


class OnCall(Answer):
    schedule: str
    on_call: str
    timezone: str
    next_handoffs: list[Handoff]


class Maintenance(Answer):
    name: str
    match: Labels
    active: bool
    starts_at: Time
    ends_at: Time


class IncidentPage(Page[Incident]):
    pass


class OnCallList(Answer):
    items: list[OnCall]


class MaintenanceList(Answer):
    items: list[Maintenance]
