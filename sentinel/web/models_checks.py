"""The API's payloads for checks, their results, alerts and their escalation, silences
and acknowledgements (see :mod:`sentinel.web.models_base` for the shared pieces)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from sentinel.web.models_base import (
    AlertState,
    Answer,
    CheckState,
    Count,
    Labels,
    Page,
    Samples,
    Severity,
    Time,
)


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "missing" means now; null is not a time


class LocationView(Answer):
    """One place's view of a check probed from several (``locations``, or ``replicas`` of
    2 or more in a cluster): what its latest run saw, and whether it counts."""

    place: str
    """The location, or the member's id for a check with replicas."""
    state: Literal["up", "down", "unknown"]
    """unknown: no result for the latest interval (the place is silent or late), or its
    location is unhealthy; an unknown view counts neither as up nor as down."""
    unhealthy: bool
    """The location's own probes mostly fail where the others' succeed."""
    member: str | None
    """The member that ran the place's latest probe; null before any."""
    last_run: Time | None
    error: str | None


class ProbedBy(Answer):
    """Several replicas: the member whose result a check shows, and its location."""

    member: str
    """This member for the checks it feeds; for a check another member probes, the
    member that feeds it in the current share (its owner; with several places, the
    primary, which combined their views), whose latest result the answering member read
    from the shared store (every 5 s)."""
    location: str


class CheckEntry(Answer):
    """A check as the status shows it: the fields of the latest run only once it ran."""

    name: str
    type: str
    labels: Labels
    interval_seconds: Annotated[float, Field(gt=0)]
    state: CheckState
    last_run: Time | None = None
    """When the latest run started; null (or missing in the status) before the first."""
    duration_seconds: float | None = None
    """How long the latest run took."""
    error: str | None = None
    """Why the latest run failed, or null."""
    samples: Samples = {}
    locations: list[LocationView] = []
    """Each place's view, for a check probed from several places (empty otherwise);
    the check's state is their combination (docs/probes.md, "Confirmation from several
    locations")."""
    probed_by: ProbedBy | None = None
    """Several replicas: whose result this is (docs/scaling.md, "The status page and the
    API on every member"); null before any result, or for one process (missing from its
    status)."""


class Check(CheckEntry):
    """A check with its latest result: every field present (null before the first run)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.update(type(self).model_fields)  # dumped all, nulls too


class Result(Answer):
    """One run of a check."""

    started_at: Time
    duration: Annotated[float, Field(ge=0)]
    ok: bool
    error: str | None
    samples: Samples


class CheckDetail(Check):
    recent: list[Result]
    """Recent results, newest first."""


class Escalation(Answer):
    """How far an alert's escalation has gone."""

    policy: str
    step: Count
    """The next step to send."""
    steps: Count
    repeats: Count
    """Repeat pages sent so far."""
    notified: list[str]
    """Every target told so far; without the token, addresses read ``(hidden)``."""
    paused: bool
    """Suppressed now: the escalation clock stands still."""
    acknowledged_by: str | None
    acknowledged_at: Time | None


class Alert(Answer):
    """A pending or firing alert."""

    rule: str
    check: str
    labels: Labels
    """The alert's labels as notifications and silences see them (check's, rule's, its own)."""
    state: AlertState
    severity: Severity
    value: float | None
    active_since: Time | None
    fired_at: Time | None
    fingerprint: Annotated[str, Field(min_length=6)]
    """The alert's id."""
    suppressed: str | None
    """Why it pages nobody now (silence, maintenance, ...), or null."""
    flapping: bool
    escalation: Escalation | None
    source: str | None = None
    """The source (sources:) that sent it; null for sentinel's own alerts."""


class Silence(Answer):
    id: str
    matchers: Labels
    starts_at: Time
    ends_at: Time
    author: str
    comment: str
    created_at: Time
    active: bool = False
    """In force now (listed silences only)."""


class NewSilence(BaseModel):
    """A silence to create (checked by :func:`sentinel.silences.silence_from_request`)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    matchers: Annotated[
        Labels,
        Field(
            min_length=1,
            json_schema_extra={"propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
        ),
    ]
    """label -> exact value, or `~regex` for a whole-value match; at least one must
    require a non-empty value"""
    author: Annotated[str, Field(min_length=1, pattern=r"\S")]
    comment: str = ""
    duration: Annotated[
        str, Field(pattern=r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$", examples=["2h", "30m", "1d"])
    ] = "1h"
    starts_at: Time | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_without_default)
    """With a time zone; default now. Schedules a future silence."""


class Expired(Answer):
    expired: str
    """The id of the silence ended."""


class AckRequest(BaseModel):
    model_config = ConfigDict(strict=True, use_attribute_docstrings=True)

    by: Annotated[str, Field(min_length=1, pattern=r"\S")]
    """Who acknowledges."""
    via: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,19}$")] = "api"
    """How, for the timeline ("alice via cli"): one lower-case word; default api."""


class CheckPage(Page[Check]):
    pass


class AlertPage(Page[Alert]):
    alerts: Annotated[list[Alert], Field(deprecated=True)] = []
    """The same as `items`; `alerts` was the list before pages."""


class SilencePage(Page[Silence]):
    silences: Annotated[list[Silence], Field(deprecated=True)] = []
    """The same as `items`; `silences` was the list before pages."""
