"""The OpenAPI 3.1 document served at /api/v1/openapi.json, written by hand.

Kept precise on purpose (required fields, types, enums, no unknown fields where
sentinel writes the object itself): tests/web/test_schemathesis.py checks every
response of the running daemon against it.
"""

from __future__ import annotations

import copy
from typing import Any

from sentinel import __version__

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


TIME: Schema = {"type": "string", "format": "date-time"}
TIME_OR_NULL: Schema = {"type": ["string", "null"], "format": "date-time"}
TEXT_OR_NULL: Schema = {"type": ["string", "null"]}
NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
LABELS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
SAMPLES: Schema = {
    "type": "object",
    "description": 'Sample values by name, with labels as in Prometheus: `key_length{key="q"}`.',
    "additionalProperties": {"type": "number"},
}
SEVERITY: Schema = {"type": "string", "enum": ["critical", "high", "medium", "low"]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object sentinel writes: these fields, all of ``required`` present, no others."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
    }


def page_of(item: str, legacy: str | None = None) -> Schema:
    props: dict[str, Schema] = {
        "items": {"type": "array", "items": ref(item)},
        "total": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
        "offset": {"type": "integer", "minimum": 0},
        "next": {
            "type": ["string", "null"],
            "description": "The next page's URL (same filters), or null on the last page.",
        },
    }
    optional: dict[str, Schema] = {}
    if legacy is not None:
        optional[legacy] = {
            "type": "array",
            "items": ref(item),
            "deprecated": True,
            "description": f"The same as `items`; `{legacy}` was the list before pages.",
        }
    return obj(props, optional)


CHECK_FIELDS: dict[str, Schema] = {
    "name": {"type": "string"},
    "type": {"type": "string"},
    "labels": LABELS,
    "interval_seconds": {"type": "number", "exclusiveMinimum": 0},
    "state": {"type": "string", "enum": ["up", "down", "pending", "unsupported"]},
    "last_run": TIME_OR_NULL,
    "duration_seconds": NUMBER_OR_NULL,
    "error": TEXT_OR_NULL,
    "samples": SAMPLES,
}
INCIDENT_FIELDS: dict[str, Schema] = {
    "id": {"type": "string", "pattern": "^INC-\\d{8}-\\d{6}-[0-9A-Za-z]+$"},
    "fingerprint": {"type": "string"},
    "rule": {"type": "string"},
    "check": {"type": "string"},
    "severity": SEVERITY,
    "title": {"type": "string"},
    "state": {"type": "string", "enum": ["open", "acknowledged", "resolved"]},
    "started_at": TIME,
    "acked_at": TIME_OR_NULL,
    "acked_by": TEXT_OR_NULL,
    "resolved_at": TIME_OR_NULL,
    "duration_seconds": {"type": ["number", "null"], "minimum": 0},
    "root_cause": {"type": "string"},
    "resolution": {"type": "string"},
    "preventive": {"type": "string"},
}
SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": {"type": "string", "minLength": 1}}),
    "Check": obj(CHECK_FIELDS),
    "Result": obj(
        {
            "started_at": TIME,
            "duration": {"type": "number", "minimum": 0},
            "ok": {"type": "boolean"},
            "error": TEXT_OR_NULL,
            "samples": SAMPLES,
        }
    ),
    "CheckDetail": obj(
        {**CHECK_FIELDS, "recent": {"type": "array", "items": ref("Result")}},
    ),
    "Escalation": obj(
        {
            "policy": {"type": "string"},
            "step": {"type": "integer", "minimum": 0},
            "steps": {"type": "integer", "minimum": 0},
            "repeats": {"type": "integer", "minimum": 0},
            "notified": {"type": "array", "items": {"type": "string"}},
            "paused": {"type": "boolean"},
            "acknowledged_by": TEXT_OR_NULL,
            "acknowledged_at": TIME_OR_NULL,
        }
    ),
    "Alert": obj(
        {
            "rule": {"type": "string"},
            "check": {"type": "string"},
            "labels": LABELS,
            "state": {"type": "string", "enum": ["pending", "firing"]},
            "severity": SEVERITY,
            "value": NUMBER_OR_NULL,
            "active_since": TIME_OR_NULL,
            "fired_at": TIME_OR_NULL,
            "fingerprint": {"type": "string", "minLength": 6},
            "suppressed": {
                "type": ["string", "null"],
                "description": "Why it pages nobody now (silence, maintenance, ...), or null.",
            },
            "flapping": {"type": "boolean"},
            "escalation": nullable(ref("Escalation")),
        }
    ),
    "Silence": obj(
        {
            "id": {"type": "string"},
            "matchers": LABELS,
            "starts_at": TIME,
            "ends_at": TIME,
            "author": {"type": "string"},
            "comment": {"type": "string"},
            "created_at": TIME,
        },
        {"active": {"type": "boolean", "description": "In force now (listed silences only)."}},
    ),
    "NewSilence": {
        "type": "object",
        "required": ["matchers", "author"],
        "properties": {
            "matchers": {
                **LABELS,
                "minProperties": 1,
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "description": "label -> exact value, or `~regex` for a whole-value match; "
                "at least one must require a non-empty value",
            },
            "author": {"type": "string", "minLength": 1, "pattern": "\\S"},
            "comment": {"type": "string"},
            "duration": {
                "type": "string",
                "default": "1h",
                "examples": ["2h", "30m", "1d"],
                "pattern": "^(\\d+(\\.\\d+)?(ms|s|m|h|d|w))+$",
            },
            "starts_at": {
                **TIME,
                "description": "With a time zone; default now. Schedules a future silence.",
            },
        },
    },
    "Incident": obj(INCIDENT_FIELDS),
    "IncidentDetail": obj(
        {**INCIDENT_FIELDS, "timeline": {"type": "array", "items": ref("IncidentEvent")}}
    ),
    "IncidentEvent": obj(
        {
            "at": TIME,
            "kind": {
                "type": "string",
                "enum": [
                    "fired",
                    "notified",
                    "escalated",
                    "acknowledged",
                    "unacknowledged",
                    "resolved",
                    "note",
                ],
            },
            "text": {"type": "string"},
            "detail": {"type": "object"},
        }
    ),
    "Timeline": obj(
        {
            "id": {"type": "string"},
            "timeline": {"type": "array", "items": ref("IncidentEvent")},
        }
    ),
    "IncidentUpdate": {
        "type": "object",
        "additionalProperties": False,
        "anyOf": [
            {"required": ["root_cause"]},
            {"required": ["resolution"]},
            {"required": ["preventive"]},
            {"required": ["note"]},
        ],
        "properties": {
            "root_cause": {"type": "string", "maxLength": 10000},
            "resolution": {"type": "string", "maxLength": 10000},
            "preventive": {"type": "string", "maxLength": 10000},
            "note": {
                "type": "string",
                "maxLength": 10000,
                "description": 'Added to the timeline as a "note" event.',
            },
            "by": {
                "type": "string",
                "maxLength": 10000,
                "description": "Who writes (kept with a note; default `api`).",
            },
        },
    },
    "OnCall": obj(
        {
            "schedule": {"type": "string"},
            "on_call": {"type": "string"},
            "timezone": {"type": "string"},
            "next_handoffs": {
                "type": "array",
                "items": obj(
                    {
                        "at": TIME,
                        "who": {"type": "string"},
                        "reason": {
                            "type": "string",
                            "enum": ["rotation", "override start", "override end"],
                        },
                    }
                ),
            },
        }
    ),
    "Maintenance": obj(
        {
            "name": {"type": "string"},
            "match": LABELS,
            "active": {"type": "boolean"},
            "starts_at": TIME,
            "ends_at": TIME,
        }
    ),
    "Status": obj(
        {
            "version": {"type": "string"},
            "started_at": TIME,
            "summary": obj(
                {
                    state: {"type": "integer", "minimum": 0}
                    for state in ("up", "down", "pending", "unsupported")
                }
            ),
            "checks": {
                "type": "array",
                "items": obj(
                    {
                        "name": {"type": "string"},
                        "type": {"type": "string"},
                        "labels": LABELS,
                        "interval_seconds": {"type": "number"},
                        "state": {
                            "type": "string",
                            "enum": ["up", "down", "pending", "unsupported"],
                        },
                    },
                    {
                        "last_run": TIME,
                        "duration_seconds": {"type": "number"},
                        "error": TEXT_OR_NULL,
                        "samples": SAMPLES,
                    },
                ),
            },
            "alerts": {"type": "array", "items": ref("Alert")},
            "channels": {
                "type": "array",
                "items": obj(
                    {
                        "name": {"type": "string"},
                        "type": {"type": "string"},
                        "broken": TEXT_OR_NULL,
                        "pending": {"type": "integer", "minimum": 0},
                    }
                ),
            },
        }
    ),
    "Reload": obj(
        {"reloaded": {"type": "boolean"}},
        {
            "error": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "string"}},
        },
    ),
    "Report": {
        "type": "object",
        "description": "A report over the period (see docs/api.md); its fields may grow.",
    },
    "Config": {
        "type": "object",
        "description": 'The running config; every secret reads "**********".',
    },
}
SCHEMAS["Page_Check"] = page_of("Check")
SCHEMAS["Page_Alert"] = page_of("Alert", legacy="alerts")
SCHEMAS["Page_Silence"] = page_of("Silence", legacy="silences")
SCHEMAS["Page_Incident"] = page_of("Incident")
SCHEMAS["OnCallList"] = obj({"items": {"type": "array", "items": ref("OnCall")}})
SCHEMAS["MaintenanceList"] = obj({"items": {"type": "array", "items": ref("Maintenance")}})


def body(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def err(description: str) -> Schema:
    return body(ref("Error"), description)


BAD = err("Bad input (a query parameter, the JSON body).")
NOT_FOUND = err("No such thing.")
LIMITED: Schema = {
    **err("Too many wrong tokens from this address (server.auth_failures); retry later."),
    "headers": {
        "Retry-After": {
            "description": "Seconds until a token is looked at again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
AUTH: dict[str, Schema] = {
    "401": err("Missing or wrong bearer token."),
    "403": err("Writes are off: no server.api_token is configured."),
    "429": LIMITED,
}
# Reads that show contact addresses only with the token; a wrong token is refused.
CONTACTS: dict[str, Schema] = {"401": err("Wrong bearer token."), "429": LIMITED}
CONTACT_READS = {
    "status",
    "listAlerts",
    "getAlert",
    "getIncident",
    "getIncidentTimeline",
    "exportIncident",
}
TOO_LARGE = err("The body is over 1 MiB.")
LIMIT: Schema = {
    "name": "limit",
    "in": "query",
    "description": "Items per page.",
    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
}
OFFSET: Schema = {
    "name": "offset",
    "in": "query",
    "description": "Items to skip.",
    "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
}
PAGING = [LIMIT, OFFSET]
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def path_param(name: str, description: str, pattern: str | None = None) -> Schema:
    schema: Schema = {"type": "string", "minLength": 1}
    if pattern is not None:
        schema["pattern"] = pattern
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


ALERT_ID = path_param("id", "The alert's id (fingerprint), or its first 6+ characters.")
INCIDENT_ID = path_param("id", "An incident id such as INC-20260131-094512-3fa2.")


def op(
    summary: str,
    tag: str,
    responses: dict[str, Schema],
    *,
    params: list[Schema] | None = None,
    request: Schema | None = None,
    write: bool = False,
    operation_id: str,
) -> Schema:
    out: Schema = {"summary": summary, "tags": [tag], "operationId": operation_id}
    if params:
        out["parameters"] = params
    if request is not None:
        out["requestBody"] = request
    out["responses"] = {**responses, **(AUTH if write else {})}
    if write:
        out["security"] = BEARER
        out["responses"].setdefault("413", TOO_LARGE)
    if operation_id in CONTACT_READS:
        out["responses"].update(CONTACTS)
        out["security"] = [{}, *BEARER]  # optional: with it, contacts' addresses show
    return out


PATHS: dict[str, Schema] = {
    "/health": {
        "get": op(
            "Liveness: the process answers.",
            "operations",
            {
                "200": body(
                    obj({"status": {"type": "string", "enum": ["alive"]}}), "Always, when up."
                )
            },
            operation_id="health",
        )
    },
    "/ready": {
        "get": op(
            "Readiness: config loaded, scheduler ticking, store reachable.",
            "operations",
            {
                "200": body(ref("Readiness"), "Ready."),
                "503": body(ref("Readiness"), "Not ready; the fields say why."),
            },
            operation_id="ready",
        )
    },
    "/metrics": {
        "get": op(
            "Prometheus metrics (text exposition format).",
            "operations",
            {
                "200": {
                    "description": "The metrics.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            operation_id="metrics",
        )
    },
    "/-/reload": {
        "post": op(
            "Read the config file again and switch to it (as SIGHUP does).",
            "operations",
            {
                "200": body(ref("Reload"), "Reloaded."),
                "400": body(
                    ref("Reload"), "The file is invalid or unreadable; the running config is kept."
                ),
            },
            write=True,
            operation_id="reload",
        )
    },
    "/api/v1/openapi.json": {
        "get": op(
            "This document.",
            "meta",
            {"200": body({"type": "object"}, "The OpenAPI document.")},
            operation_id="openapi",
        )
    },
    "/api/v1/status": {
        "get": op(
            "Everything at once: checks, alerts, channels (for dashboards).",
            "status",
            {"200": body(ref("Status"), "The status.")},
            operation_id="status",
        )
    },
    "/api/v1/slos": {  # SLOs (issue 19): fields in docs/slos.md
        "get": op(
            "SLOs: attainment, error budget left, burn rates and alert pairs.",
            "status",
            {"200": body({"type": "object"}, "The SLOs, as {slos: [...]}.")},
            operation_id="listSlos",
        )
    },
    "/api/v1/checks": {
        "get": op(
            "Checks with their latest result, in config order.",
            "checks",
            {"200": body(ref("Page_Check"), "A page of checks."), "400": BAD},
            params=[
                *PAGING,
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["up", "down", "pending", "unsupported"]},
                },
                {
                    "name": "service",
                    "in": "query",
                    "description": "Only checks whose `service` label is this.",
                    "schema": {"type": "string"},
                },
            ],
            operation_id="listChecks",
        )
    },
    "/api/v1/checks/{name}": {
        "get": op(
            "One check, with its recent results from the history (newest first).",
            "checks",
            {"200": body(ref("CheckDetail"), "The check."), "400": BAD, "404": NOT_FOUND},
            params=[
                path_param("name", "The check's name."),
                {
                    "name": "recent",
                    "in": "query",
                    "description": "How many recent results.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
                },
            ],
            operation_id="getCheck",
        )
    },
    "/api/v1/alerts": {
        "get": op(
            "Active alerts (pending and firing).",
            "alerts",
            {"200": body(ref("Page_Alert"), "A page of alerts."), "400": BAD},
            params=[
                *PAGING,
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["pending", "firing"]},
                },
            ],
            operation_id="listAlerts",
        )
    },
    "/api/v1/alerts/{id}": {
        "get": op(
            "One active alert.",
            "alerts",
            {"200": body(ref("Alert"), "The alert."), "404": NOT_FOUND},
            params=[ALERT_ID],
            operation_id="getAlert",
        )
    },
    "/api/v1/alerts/{id}/ack": {
        "post": op(
            "Acknowledge a firing alert: its escalation stops.",
            "alerts",
            {"200": body(ref("Alert"), "Acknowledged."), "400": BAD, "404": NOT_FOUND},
            params=[ALERT_ID],
            request={
                "required": True,
                "content": {
                    JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["by"],
                            "properties": {
                                "by": {"type": "string", "minLength": 1, "pattern": "\\S"}
                            },
                        }
                    }
                },
            },
            write=True,
            operation_id="ackAlert",
        )
    },
    "/api/v1/alerts/{id}/unack": {
        "post": op(
            "Withdraw an acknowledgement: escalation resumes.",
            "alerts",
            {"200": body(ref("Alert"), "Unacknowledged."), "404": NOT_FOUND},
            params=[ALERT_ID],
            write=True,
            operation_id="unackAlert",
        )
    },
    "/api/v1/silences": {
        "get": op(
            "Active and upcoming silences.",
            "silences",
            {"200": body(ref("Page_Silence"), "A page of silences."), "400": BAD},
            params=PAGING,
            operation_id="listSilences",
        ),
        "post": op(
            "Silence matching alerts for a while.",
            "silences",
            {"201": body(ref("Silence"), "Created."), "400": BAD},
            request={"required": True, "content": {JSON: {"schema": ref("NewSilence")}}},
            write=True,
            operation_id="createSilence",
        ),
    },
    "/api/v1/silences/{id}": {
        "delete": op(
            "End a silence now.",
            "silences",
            {
                "200": body(obj({"expired": {"type": "string"}}), "Expired."),
                "404": NOT_FOUND,
            },
            params=[path_param("id", "The silence's id (sil-...).")],
            write=True,
            operation_id="expireSilence",
        )
    },
    "/api/v1/incidents": {
        "get": op(
            "Incidents, newest first.",
            "incidents",
            {"200": body(ref("Page_Incident"), "A page of incidents."), "400": BAD},
            params=[
                *PAGING,
                {
                    "name": "since",
                    "in": "query",
                    "description": "Only incidents that started at or after this time "
                    "(ISO 8601; without a zone, UTC).",
                    "schema": TIME,
                },
            ],
            operation_id="listIncidents",
        )
    },
    "/api/v1/incidents/{id}": {
        "get": op(
            "One incident with its timeline.",
            "incidents",
            {"200": body(ref("IncidentDetail"), "The incident."), "404": NOT_FOUND},
            params=[INCIDENT_ID],
            operation_id="getIncident",
        ),
        "patch": op(
            "Write the post-incident fields, or add a note to the timeline.",
            "incidents",
            {
                "200": body(ref("IncidentDetail"), "The incident as it is now."),
                "400": BAD,
                "404": NOT_FOUND,
            },
            params=[INCIDENT_ID],
            request={"required": True, "content": {JSON: {"schema": ref("IncidentUpdate")}}},
            write=True,
            operation_id="updateIncident",
        ),
    },
    "/api/v1/incidents/{id}/timeline": {
        "get": op(
            "An incident's timeline, oldest first.",
            "incidents",
            {"200": body(ref("Timeline"), "The timeline."), "404": NOT_FOUND},
            params=[INCIDENT_ID],
            operation_id="getIncidentTimeline",
        )
    },
    "/api/v1/incidents/{id}/export": {
        "get": op(
            "Download an incident: JSON, or the Markdown post-incident template.",
            "incidents",
            {
                "200": {
                    "description": "The file (Content-Disposition: attachment).",
                    "content": {
                        JSON: {"schema": ref("IncidentDetail")},
                        "text/markdown": {"schema": {"type": "string"}},
                    },
                },
                "400": BAD,
                "404": NOT_FOUND,
            },
            params=[
                INCIDENT_ID,
                {
                    "name": "format",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["json", "markdown"], "default": "json"},
                },
            ],
            operation_id="exportIncident",
        )
    },
    "/api/v1/oncall": {
        "get": op(
            "Who is on call now on each schedule, and the next handoffs.",
            "oncall",
            {"200": body(ref("OnCallList"), "The schedules.")},
            operation_id="onCall",
        )
    },
    "/api/v1/maintenance": {
        "get": op(
            "Maintenance windows in force now or coming next.",
            "maintenance",
            {"200": body(ref("MaintenanceList"), "The windows.")},
            operation_id="maintenance",
        )
    },
    "/api/v1/reports": {
        "get": op(
            "An availability and alerting report over a period ending now.",
            "reports",
            {
                "200": body(ref("Report"), "The report."),
                "400": BAD,
                "501": err("Reports are not part of this build."),
            },
            params=[
                {
                    "name": "period",
                    "in": "query",
                    "description": "How far back: a duration up to 366d.",
                    "schema": {"type": "string", "default": "7d", "examples": ["1d", "7d", "30d"]},
                }
            ],
            operation_id="report",
        )
    },
    "/api/v1/config": {
        "get": op(
            "The running config, secrets redacted (bearer: it holds contacts' details).",
            "operations",
            {"200": body(ref("Config"), "The config.")},
            write=True,
            operation_id="config",
        )
    },
    "/ack/{fingerprint}/{token}": {
        "get": op(
            "The page behind a notification's signed acknowledge link (a confirm form).",
            "ack links",
            {
                "200": {"description": "The form.", "content": {"text/html": {}}},
                "403": {"description": "Invalid or expired link.", "content": {"text/html": {}}},
                "404": {"description": "The alert is over.", "content": {"text/html": {}}},
            },
            params=[
                path_param("fingerprint", "The alert's id."),
                path_param("token", "The link's signature; it is the credential."),
            ],
            operation_id="ackLinkPage",
        ),
        "post": op(
            "Acknowledge through a signed link (the form's submit).",
            "ack links",
            {
                "200": {"description": "Acknowledged.", "content": {"text/html": {}}},
                "403": {"description": "Invalid or expired link.", "content": {"text/html": {}}},
                "404": {"description": "The alert is over.", "content": {"text/html": {}}},
                "413": {"description": "The body is over 1 MiB.", "content": {"text/plain": {}}},
            },
            params=[
                path_param("fingerprint", "The alert's id."),
                path_param("token", "The link's signature; it is the credential."),
            ],
            request={
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {"by": {"type": "string", "maxLength": 100}},
                        }
                    }
                }
            },
            operation_id="ackLinkSubmit",
        ),
    },
}
SCHEMAS["Readiness"] = obj(
    {
        "ready": {"type": "boolean"},
        "config_loaded": {"type": "boolean"},
        "scheduler_running": {"type": "boolean"},
        "last_tick_age_seconds": {"type": ["number", "null"], "minimum": 0},
        "store_reachable": {"type": "boolean"},
    }
)

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "sentinel API",
        "version": __version__,
        "description": "Monitoring daemon API. Reads are open (contacts' addresses only "
        "with the token); writes need `Authorization: Bearer <server.api_token>`; wrong "
        "tokens are limited per client address (429). Bodies are at most 1 MiB. Lists are pages "
        '(`limit` 1..1000, default 100; `offset`). Errors are `{"error": "..."}`.',
    },
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "server.api_token from the config.",
            }
        },
    },
    "paths": PATHS,
}


def document() -> Schema:
    """A fresh copy of the document (callers may change theirs)."""
    return copy.deepcopy(DOCUMENT)
