"""The API's payloads for the status, health and readiness, channels, inbound sources,
the cluster, SLOs, reloads, reports and the config (see
:mod:`sentinel.web.models_base` for the shared pieces)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentinel.web.models_base import (
    Answer,
    Count,
    Severity,
    Time,
)
from sentinel.web.models_checks import (
    Alert,
    CheckEntry,
)


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
    """Both burn rates are at least the factor now (the alert fires once `for` has passed),
    or the pair's alert is firing and its hysteresis holds it (docs/slos.md)."""
    warming: bool = False
    """Not judged yet: the SLO's counters do not reach back over the long window (a new
    SLO cannot page on a few runs; docs/slos.md)."""
    hysteresis: float = 1.0
    """Once firing, the pair resolves when its long window drops below the factor or its
    short window below factor x hysteresis (docs/slos.md)."""
    inhibition_hold: str | None = None
    """How long the pair's alert stays inhibited after an inhibiting alert on one of the
    SLO's checks resolves (its short window plus a minute; it is also held while such an
    alert is pending); null: no hold (``inhibition_hold: false``, or no ``inhibit:``
    rules). docs/slos.md, "Not paged twice for one outage"."""


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
    """The pairs whose condition holds now, or whose alert is firing on its hysteresis."""
    alerts: list[SloAlertPair]


class SloList(Answer):
    slos: list[Slo]


class Report(BaseModel):
    """A report over the period (see docs/api.md); its fields may grow."""

    model_config = ConfigDict(extra="allow")


class Config(BaseModel):
    """The running config; every secret reads "**********"."""

    model_config = ConfigDict(extra="allow")
