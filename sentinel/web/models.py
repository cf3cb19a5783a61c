"""The API's payloads as pydantic models: the one description of every JSON answer
and request body. Handlers answer through them (:func:`dumped`), and the OpenAPI
document's components are their JSON Schemas (:mod:`sentinel.web.openapi`).

Field descriptions are the attribute docstrings. Answers are closed objects
(``extra="forbid"``: no unknown field); a field with a default is one that may be
missing from the answer (it is left out unless set), every other field is always
present, null where its type allows.

This module names every model; they live by aggregate in
:mod:`sentinel.web.models_checks` (checks, alerts, silences),
:mod:`sentinel.web.models_incidents` (incidents, on-call, maintenance) and
:mod:`sentinel.web.models_status` (status, health, sources, cluster, SLOs), on the
shared pieces of :mod:`sentinel.web.models_base`.
"""

from __future__ import annotations

from sentinel.web.models_base import (
    MAX_TEXT,
    AlertState,
    Answer,
    CheckState,
    Count,
    Error,
    Labels,
    Page,
    Samples,
    Severity,
    Time,
    dumped,
    request_problem,
)
from sentinel.web.models_checks import (
    AckRequest,
    Alert,
    AlertPage,
    Check,
    CheckDetail,
    CheckEntry,
    CheckPage,
    Escalation,
    Expired,
    LocationView,
    NewSilence,
    ProbedBy,
    Result,
    Silence,
    SilencePage,
)
from sentinel.web.models_incidents import (
    Handoff,
    Incident,
    IncidentDetail,
    IncidentEvent,
    IncidentPage,
    IncidentUpdate,
    Maintenance,
    MaintenanceList,
    OnCall,
    OnCallList,
    Text,
    Timeline,
)
from sentinel.web.models_status import (
    ChannelState,
    Cluster,
    ClusterMember,
    Config,
    EventAnswer,
    Health,
    Readiness,
    Reload,
    Report,
    Slo,
    SloAlertPair,
    SloList,
    Sources,
    SourceState,
    SourceTaken,
    Status,
    Summary,
)

__all__ = [
    "MAX_TEXT",
    "AckRequest",
    "Alert",
    "AlertPage",
    "AlertState",
    "Answer",
    "ChannelState",
    "Check",
    "CheckDetail",
    "CheckEntry",
    "CheckPage",
    "CheckState",
    "Cluster",
    "ClusterMember",
    "Config",
    "Count",
    "Error",
    "Escalation",
    "EventAnswer",
    "Expired",
    "Handoff",
    "Health",
    "Incident",
    "IncidentDetail",
    "IncidentEvent",
    "IncidentPage",
    "IncidentUpdate",
    "Labels",
    "LocationView",
    "Maintenance",
    "MaintenanceList",
    "NewSilence",
    "OnCall",
    "OnCallList",
    "Page",
    "ProbedBy",
    "Readiness",
    "Reload",
    "Report",
    "Result",
    "Samples",
    "Severity",
    "Silence",
    "SilencePage",
    "Slo",
    "SloAlertPair",
    "SloList",
    "SourceState",
    "SourceTaken",
    "Sources",
    "Status",
    "Summary",
    "Text",
    "Time",
    "Timeline",
    "dumped",
    "request_problem",
]
