"""The API's payloads as pydantic models: the one description of every JSON answer
and request body. Handlers answer through them (:func:`dumped`), and the OpenAPI
document's components are their JSON Schemas (:mod:`sentinel.web.openapi`).

Field descriptions are the attribute docstrings. Answers are closed objects
(``extra="forbid"``: no unknown field); a field with a default is one that may be
missing from the answer (it is left out unless set), every other field is always
present, null where its type allows.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from sentinel.escalation.incidents import EventKind

Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Labels = dict[str, str]
Samples = Annotated[
    dict[str, float],
    Field(
        description='Sample values by name, with labels as in Prometheus: `key_length{key="q"}`.'
    ),
]
Severity = Literal["critical", "high", "medium", "low"]
CheckState = Literal["up", "down", "pending", "unsupported"]
AlertState = Literal["pending", "firing"]
Count = Annotated[int, Field(ge=0)]
MAX_TEXT = 10_000
Item = TypeVar("Item")


class Answer(BaseModel):
    """A JSON object sentinel writes."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def dumped(model: type[Answer], payload: Any) -> dict[str, Any]:
    """``payload`` in ``model``'s shape, as JSON: checked on the way out, the fields
    with a default left out unless given."""
    shown: dict[str, Any] = model.model_validate(payload).model_dump(
        mode="json", exclude_unset=True
    )
    return shown


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "missing" means now; null is not a time


def request_problem(exc: ValidationError) -> str:
    """A request body's problem in one line: every unknown field, or the first bad one."""
    errors = exc.errors()
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return f"unknown fields: {', '.join(unknown)}"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "string_type":
        return f"{where} must be text"
    if first["type"] == "string_too_long":
        return f"{where} is longer than {first['ctx']['max_length']} characters"
    return f"{where}: {first['msg']}"


class Error(Answer):
    """Every error under /api/ and /-/."""

    error: Annotated[str, Field(min_length=1)]
    """What is wrong, in one line."""


class Health(Answer):
    status: Literal["alive"]


class Readiness(Answer):
    ready: bool
    """All of the below are fine."""
    config_loaded: bool
    scheduler_running: bool
    last_tick_age_seconds: Annotated[float, Field(ge=0)] | None
    """Seconds since the scheduler last ticked; null before the first tick."""
    store_reachable: bool
    cluster_lease_held: bool | None = None
    """Several replicas: this member's lease is held (missing for one process). While
    false it sends and escalates nothing."""
    reason: str | None = None
    """Why this member is not ready as a cluster member (lease lost, outdated schema)."""


class ClusterMember(Answer):
    """One member row as the last heartbeat read it (times: unix seconds, database clock)."""

    id: str
    location: str
    version: str
    """sentinel's version on that member."""
    schema_version: int
    """The newest store migration its code knows; an older one neither sends nor escalates."""
    started: float
    heartbeat: float
    heartbeat_age_seconds: float | None
    live: bool
    """Its heartbeat is younger than the lease and its database session is open."""
    connected: bool
    """Its database session is open (a member killed outright shows false at once)."""
    owned_checks: int | None
    """Checks it owns (null where ownership is not known)."""


class Cluster(Answer):
    """``GET /api/v1/cluster``: the members, leader, leases and claims (docs/scaling.md)."""

    clustered: bool
    """False for one process on SQLite (one member, always the leader)."""
    member: str
    """The member that answered."""
    database_time: float
    """Now on the clock every lease is read by (the database's when clustered)."""
    clock_offset_seconds: float
    """The database's clock minus this member's."""
    lease_seconds: float | None
    leader: str | None
    """The member holding the leader lock (sends scheduled reports)."""
    members: list[ClusterMember]
    locations: dict[str, list[str]]
    """Location label -> its live members."""
    alert_claims: dict[str, int]
    """Member -> alerts whose escalation it holds."""
    outbox_claims: dict[str, int]
    """Member -> open outbox rows it has claimed (sending now, or retrying)."""
    outbox_open: int | None
    """Open outbox rows in the shared store (pending or held)."""


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


class Summary(Answer):
    """How many checks are in each state."""

    up: Count
    down: Count
    pending: Count
    unsupported: Count


class ChannelState(Answer):
    name: str
    type: str
    broken: str | None
    """Why the channel cannot deliver (a permanent error), or null."""
    pending: Count
    """Notices waiting for it."""


class SourceState(Answer):
    """An inbound alert source (sources:)."""

    name: str
    type: Literal["alertmanager", "grafana", "events"]
    last_spoke: Time | None
    """When it last sent a request that was taken (since sentinel started); null: not yet."""
    open_alerts: int
    """Its alerts firing now (a source that goes quiet resolves none)."""


class Sources(Answer):
    sources: list[SourceState]


class SourceTaken(Answer):
    """An Alertmanager or Grafana webhook taken."""

    status: Literal["success"]
    alerts: dict[str, int]
    """Alerts by what they changed: fired, resolved, repeated, stale."""


class EventAnswer(Answer):
    """PagerDuty Events v2's answer: 202 ``success`` with the dedup_key, or 400/401
    ``invalid event`` with the errors."""

    status: str
    message: str
    dedup_key: str | None = None
    errors: list[str] | None = None


class Status(Answer):
    version: str
    started_at: Time
    summary: Summary
    checks: list[CheckEntry]
    alerts: list[Alert]
    channels: list[ChannelState]
    sources: list[SourceState] = []


class Reload(Answer):
    reloaded: bool
    error: str = ""
    problems: list[str] = []
    """What is wrong in the file."""


class SloAlertPair(Answer):
    """One burn-rate alert pair of an SLO (docs/slos.md)."""

    name: str
    """page-fast, page-slow, ticket, or a pair the config adds."""
    rule: str
    """The rule name its alerts carry: SLO:<slo>:<pair>."""
    factor: float
    """Burn rate both windows must reach for the pair to fire."""
    long: str
    """The long window, e.g. 1h."""
    short: str
    """The short window, e.g. 5m."""
    severity: Severity
    long_burn_rate: float | None
    """The burn rate over the long window now (null: no runs in it)."""
    short_burn_rate: float | None
    """The burn rate over the short window now (null: no runs in it)."""
    firing: bool
    """Both burn rates are at least the factor now (the alert fires once `for` has passed)."""
    warming: bool = False
    """Not judged yet: the SLO's counters do not reach back over the long window (a new
    SLO cannot page on a few runs; docs/slos.md)."""


class Slo(Answer):
    """An SLO and where it stands (figures at most a minute old)."""

    name: str
    description: str
    indicator: str
    """availability or latency (see docs/slos.md)."""
    threshold_seconds: float | None
    """latency: a good run is faster than this; null for availability."""
    objective: Annotated[float, Field(gt=0, lt=1)]
    """Share of runs that must be good over the window, e.g. 0.999."""
    window: str
    """The SLO's window, e.g. 30d."""
    good: Count
    """Good runs counted in the window."""
    total: Count
    """All runs counted in the window."""
    attainment: float | None
    """good / total over the window (null: no runs yet)."""
    error_budget_remaining: float | None
    """Error budget left: 1 untouched, 0 spent, below 0 overspent (null: no runs yet)."""
    exhaustion_seconds: float | None
    """Time until the budget is spent at the 1h burn rate (0: spent; null: not burning)."""
    burn_rates: dict[str, float | None]
    """Burn rate by window (every window of its pairs, and 1h); 1 spends the budget over the SLO's window."""
    firing: list[str]
    """The pairs whose condition holds now."""
    alerts: list[SloAlertPair]


class SloList(Answer):
    slos: list[Slo]


class Report(BaseModel):
    """A report over the period (see docs/api.md); its fields may grow."""

    model_config = ConfigDict(extra="allow")


class Config(BaseModel):
    """The running config; every secret reads "**********"."""

    model_config = ConfigDict(extra="allow")


class Page(Answer, Generic[Item]):
    """A page of a list."""

    items: list[Item]
    total: Count
    limit: Annotated[int, Field(ge=1, le=1000)]
    offset: Count
    next: str | None
    """The next page's URL (same filters), or null on the last page."""


class CheckPage(Page[Check]):
    pass


class AlertPage(Page[Alert]):
    alerts: Annotated[list[Alert], Field(deprecated=True)] = []
    """The same as `items`; `alerts` was the list before pages."""


class SilencePage(Page[Silence]):
    silences: Annotated[list[Silence], Field(deprecated=True)] = []
    """The same as `items`; `silences` was the list before pages."""


class IncidentPage(Page[Incident]):
    pass


class OnCallList(Answer):
    items: list[OnCall]


class MaintenanceList(Answer):
    items: list[Maintenance]
