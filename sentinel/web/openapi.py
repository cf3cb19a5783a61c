"""The OpenAPI 3.1 document served at /api/v1/openapi.json.

Its components are the JSON Schemas of the payload models (:mod:`sentinel.web.models`);
what is written here is the route table: path, method, summary, request model,
answers by status, parameters and who may call. tests/web/test_schemathesis.py
checks every response of the running daemon against the document.

It runs past 400 lines because most of it is that table (``ROUTES``: one entry
per operation, 40, about 160 lines) and the shared parameters, forms and
answers the entries name; the code that turns it into the document is the last
100 lines. Splitting the table would only scatter one list.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from sentinel import __version__
from sentinel.sources.alertmanager import Webhook
from sentinel.sources.events import Event
from sentinel.sources.grafana import GrafanaWebhook
from sentinel.web import incident_updates as upd
from sentinel.web import models as m

JSON = "application/json"
Schema = dict[str, Any]
Body = type[BaseModel] | Schema  # a JSON model, or the content by media type
Access = Literal["open", "contacts", "token"]
HTML: Schema = {"text/html": {}}


@dataclass(frozen=True)
class Route:
    """One operation. ``answers``: status -> (body, description). ``access``: open to
    all, ``contacts`` (addresses shown with the token, a wrong token refused) or
    ``token`` (the bearer token required)."""

    route: str  # "METHOD /path"
    operation_id: str
    tag: str
    summary: str
    answers: dict[int, tuple[Body, str]]
    params: tuple[Schema, ...] = ()
    request: Body | None = None
    access: Access = "open"


def query(name: str, schema: Schema, description: str | None = None) -> Schema:
    out: Schema = {"name": name, "in": "query", "schema": schema}
    if description is not None:
        out["description"] = description
    return out


def path_param(name: str, description: str) -> Schema:
    schema = {"type": "string", "minLength": 1}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def integer(low: int, high: int, default: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high, "default": default}


PAGING = (
    query("limit", integer(1, 1000, 100), "Items per page."),
    query("offset", integer(0, 2**31 - 1, 0), "Items to skip."),
)
ALERT_ID = path_param("id", "The alert's id (fingerprint), or its first 6+ characters.")


def json_body(schema: Schema) -> Schema:
    """A JSON body described by a plain schema (no model)."""
    return {"application/json": {"schema": schema}}


INCIDENT_ID = path_param("id", "An incident id such as INC-20260131-094512-3fa2.")
LINK = (
    path_param("fingerprint", "The alert's id."),
    path_param("token", "The link's signature; it is the credential."),
)
BAD = (m.Error, "Bad input (a query parameter, the JSON body).")
NOT_FOUND = (m.Error, "No such thing.")
LINK_ANSWERS: dict[int, tuple[Body, str]] = {
    403: (HTML, "Invalid or expired link."),
    404: (HTML, "The alert is over."),
}
TIME: Schema = {"type": "string", "format": "date-time"}
SOURCE_NAME = path_param("name", "The source's name (sources[].name).")
SOURCE_ANSWERS: dict[int, tuple[Body, str]] = {
    200: (m.SourceTaken, "Taken: the alerts are saved and acted on."),
    400: (m.Error, "Malformed payload (the reason names the field)."),
    401: (m.Error, "Missing or wrong credentials (sources[].token or basic_auth)."),
    404: (m.Error, "No source of this type and name."),
    413: (m.Error, "The body is over the source's max_body."),
    429: (m.Error, "Too many wrong credentials from this address; retry later."),
}
EVENT_ANSWERS: dict[int, tuple[Body, str]] = {
    202: (m.EventAnswer, "PagerDuty's answer: success, with the dedup_key."),
    400: (m.EventAnswer, "PagerDuty's answer to an invalid event."),
    401: (m.EventAnswer, "The routing_key is not this source's."),
    404: (m.Error, "No events source of that name."),
    413: (m.Error, "The body is over the source's max_body."),
    429: (m.Error, "Too many wrong routing keys from this address; retry later."),
}


def form(**fields: Schema) -> Schema:
    """A form body (``application/x-www-form-urlencoded``) with these fields."""
    return {
        "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": fields}}
    }


TEXT: Schema = {"type": "string"}
TWILIO_FORM = form(
    **dict.fromkeys(("Digits", "CallSid", "CallStatus", "AnsweredBy", "From", "To"), TEXT)
)
SMS_FORM = form(**dict.fromkeys(("From", "To", "Body", "MessageSid", "AccountSid"), TEXT))
SLACK_FORM = form(payload={"type": "string", "description": "Slack's block_actions JSON."})
LINK_FORM = form(by={"type": "string", "maxLength": 100})


# fmt: off
ROUTES = (
    Route("GET /health", "health", "operations", "Liveness: the process answers.",
          {200: (m.Health, "Always, when up.")}),
    Route("GET /ready", "ready", "operations",
          "Readiness: config loaded, scheduler ticking, store reachable.",
          {200: (m.Readiness, "Ready."), 503: (m.Readiness, "Not ready; the fields say why.")}),
    Route("GET /metrics", "metrics", "operations", "Prometheus metrics (text exposition format).",
          {200: ({"text/plain": {"schema": {"type": "string"}}}, "The metrics.")}),
    Route("POST /-/reload", "reload", "operations",
          "Read the config file again and switch to it (as SIGHUP does).",
          {200: (m.Reload, "Reloaded."),
           400: (m.Reload, "The file is invalid or unreadable; the running config is kept.")},
          access="token"),
    Route("GET /api/v1/openapi.json", "openapi", "meta", "This document.",
          {200: ({JSON: {"schema": {"type": "object"}}}, "The OpenAPI document.")}),
    Route("GET /api/v1/status", "status", "status",
          "Everything at once: checks, alerts, channels (for dashboards).",
          {200: (m.Status, "The status.")}, access="contacts"),
    Route("GET /api/v1/slos", "listSlos", "status",
          "SLOs: attainment, error budget left, burn rates and alert pairs (docs/slos.md).",
          {200: (m.SloList, "The SLOs, in config order.")}, access="contacts"),
    Route("GET /api/v1/slos/{name}", "getSlo", "status",
          "One SLO: objective, attainment, budget left, burn rate per window, time to "
          "exhaustion and its alert pairs.",
          {200: (m.Slo, "The SLO."), 404: NOT_FOUND},
          params=(path_param("name", "The SLO's name."),), access="contacts"),
    Route("GET /api/v1/sources", "listSources", "sources",
          "Inbound alert sources: when each last spoke, its open alerts (docs/sources.md).",
          {200: (m.Sources, "The sources.")}, access="contacts"),
    Route("POST /api/v1/sources/alertmanager/{name}", "alertmanagerWebhook", "sources",
          "Alertmanager's webhook receiver (payload version 4); one alert per fingerprint.",
          SOURCE_ANSWERS, params=(SOURCE_NAME,), request=Webhook),
    Route("POST /api/v1/sources/grafana/{name}", "grafanaWebhook", "sources",
          "Grafana alerting's webhook contact point; one alert per fingerprint.",
          SOURCE_ANSWERS, params=(SOURCE_NAME,), request=GrafanaWebhook),
    Route("POST /api/v1/sources/events/{name}/v2/enqueue", "eventsEnqueue", "sources",
          "PagerDuty Events v2: trigger, acknowledge or resolve by dedup_key "
          "(the routing_key authenticates).",
          EVENT_ANSWERS, params=(SOURCE_NAME,), request=Event),
    Route("POST /v2/enqueue", "eventsEnqueueAny", "sources",
          "PagerDuty Events v2 at sentinel's root: the routing_key picks the events source.",
          EVENT_ANSWERS, request=Event),
    Route("GET /api/v1/cluster", "getCluster", "status",
          "Several replicas: members, locations, leader, leases, claims (docs/scaling.md).",
          {200: (m.Cluster, "The cluster as this member sees it.")}, access="contacts"),
    Route("GET /api/v1/checks", "listChecks", "checks",
          "Checks with their latest result, in config order.",
          {200: (m.CheckPage, "A page of checks."), 400: BAD},
          params=(*PAGING, query("state", enum("up", "down", "pending", "unsupported")),
                  query("service", {"type": "string"},
                        "Only checks whose `service` label is this."))),
    Route("GET /api/v1/checks/{name}", "getCheck", "checks",
          "One check, with its recent results from the history (newest first).",
          {200: (m.CheckDetail, "The check."), 400: BAD, 404: NOT_FOUND},
          params=(path_param("name", "The check's name."),
                  query("recent", integer(1, 1000, 20), "How many recent results."))),
    Route("GET /api/v1/alerts", "listAlerts", "alerts", "Active alerts (pending and firing).",
          {200: (m.AlertPage, "A page of alerts."), 400: BAD},
          params=(*PAGING, query("state", enum("pending", "firing"))), access="contacts"),
    Route("GET /api/v1/alerts/{id}", "getAlert", "alerts", "One active alert.",
          {200: (m.Alert, "The alert."), 404: NOT_FOUND}, params=(ALERT_ID,), access="contacts"),
    Route("POST /api/v1/alerts/{id}/ack", "ackAlert", "alerts",
          "Acknowledge a firing alert: its escalation stops.",
          {200: (m.Alert, "Acknowledged."), 400: BAD, 404: NOT_FOUND},
          params=(ALERT_ID,), request=m.AckRequest, access="token"),
    Route("POST /api/v1/alerts/{id}/unack", "unackAlert", "alerts",
          "Withdraw an acknowledgement: escalation resumes.",
          {200: (m.Alert, "Unacknowledged."), 404: NOT_FOUND}, params=(ALERT_ID,), access="token"),
    Route("GET /api/v1/silences", "listSilences", "silences", "Active and upcoming silences.",
          {200: (m.SilencePage, "A page of silences."), 400: BAD}, params=PAGING),
    Route("POST /api/v1/silences", "createSilence", "silences",
          "Silence matching alerts for a while.",
          {201: (m.Silence, "Created."), 400: BAD}, request=m.NewSilence, access="token"),
    Route("DELETE /api/v1/silences/{id}", "expireSilence", "silences", "End a silence now.",
          {200: (m.Expired, "Expired."), 404: NOT_FOUND},
          params=(path_param("id", "The silence's id (sil-...)."),), access="token"),
    Route("GET /api/v1/incidents", "listIncidents", "incidents", "Incidents, newest first.",
          {200: (m.IncidentPage, "A page of incidents."), 400: BAD},
          params=(*PAGING, query("since", TIME, "Only incidents that started at or after this "
                                 "time (ISO 8601; without a zone, UTC)."))),
    Route("GET /api/v1/incidents/{id}", "getIncident", "incidents",
          "One incident with its timeline.",
          {200: (m.IncidentDetail, "The incident."), 404: NOT_FOUND},
          params=(INCIDENT_ID,), access="contacts"),
    Route("PATCH /api/v1/incidents/{id}", "updateIncident", "incidents",
          "Write the post-incident fields, or add a note to the timeline.",
          {200: (m.IncidentDetail, "The incident as it is now."), 400: BAD, 404: NOT_FOUND},
          params=(INCIDENT_ID,), request=m.IncidentUpdate, access="token"),
    Route("POST /api/v1/incidents/{id}/updates", "postIncidentUpdate", "incidents",
          "Post a status update: recorded, then sent to everyone told.",
          {201: (json_body(upd.POSTED), "Recorded and queued for everyone told."),
           400: BAD, 404: NOT_FOUND,
           409: (m.Error, "The incident is over: resolved, or no longer escalating.")},
          params=(INCIDENT_ID,), request=json_body(upd.UPDATE_BODY), access="token"),
    Route("GET /api/v1/incidents/{id}/updates", "getIncidentUpdates", "incidents",
          "An incident's status and its status updates, oldest first.",
          {200: (json_body(upd.UPDATES), "The updates."), 404: NOT_FOUND},
          params=(INCIDENT_ID,), access="contacts"),
    Route("GET /api/v1/incidents/{id}/timeline", "getIncidentTimeline", "incidents",
          "An incident's timeline, oldest first.",
          {200: (m.Timeline, "The timeline."), 404: NOT_FOUND},
          params=(INCIDENT_ID,), access="contacts"),
    Route("GET /api/v1/incidents/{id}/export", "exportIncident", "incidents",
          "Download an incident: JSON, or the Markdown post-incident template.",
          {200: ({JSON: {"schema": m.IncidentDetail},
                  "text/markdown": {"schema": {"type": "string"}}},
                 "The file (Content-Disposition: attachment)."),
           400: BAD, 404: NOT_FOUND},
          params=(INCIDENT_ID, query("format", {**enum("json", "markdown"), "default": "json"})),
          access="contacts"),
    Route("GET /api/v1/oncall", "onCall", "oncall",
          "Who is on call now on each schedule, and the next handoffs.",
          {200: (m.OnCallList, "The schedules.")}),
    Route("GET /api/v1/maintenance", "maintenance", "maintenance",
          "Maintenance windows in force now or coming next.",
          {200: (m.MaintenanceList, "The windows.")}),
    Route("GET /api/v1/reports", "report", "reports",
          "An availability and alerting report over a period ending now.",
          {200: (m.Report, "The report."), 400: BAD},
          params=(query("period", {"type": "string", "default": "7d",
                                   "examples": ["1d", "7d", "30d"]},
                        "How far back: a duration up to 366d."),)),
    Route("GET /api/v1/config", "config", "operations",
          "The running config, secrets redacted (bearer: it holds contacts' details).",
          {200: (m.Config, "The config.")}, access="token"),
    Route("GET /ack/{fingerprint}/{token}", "ackLinkPage", "ack links",
          "The page behind a notification's signed acknowledge link (a confirm form).",
          {200: (HTML, "The form."), **LINK_ANSWERS}, params=LINK),
    Route("POST /ack/{fingerprint}/{token}", "ackLinkSubmit", "ack links",
          "Acknowledge through a signed link (the form's submit).",
          {200: (HTML, "Acknowledged."), **LINK_ANSWERS,
           413: ({"text/plain": {}}, "The body is over 1 MiB.")},
          params=LINK, request=LINK_FORM),
    Route("POST /twilio/voice/{fingerprint}/{token}", "voiceKeypress", "twilio",
          "Twilio's webhook with the keypress of a call (1 acknowledges, 2 escalates now); "
          "signed with X-Twilio-Signature (docs/notifications.md, voice).",
          {200: ({"application/xml": {}}, "TwiML that tells the caller what happened."),
           403: ({"text/plain": {}}, "The signature is missing or wrong.")},
          params=LINK, request=TWILIO_FORM),
    Route("POST /twilio/voice/{fingerprint}/{token}/status", "voiceStatus", "twilio",
          "Twilio's status callback of a call: one not answered falls through to the "
          "contact's next method.",
          {204: ({}, "Taken."), 403: ({"text/plain": {}}, "The signature is missing or wrong.")},
          params=LINK, request=TWILIO_FORM),
    Route("POST /twilio/inbound", "smsReply", "twilio",
          "Twilio's inbound-message webhook: a reply to a texted page (ACK <code>, ACK, "
          "ACK ALL) acknowledges; signed with X-Twilio-Signature (docs/notifications.md, SMS).",
          {200: ({"text/xml": {}}, "TwiML: the answer as a <Message>, or an empty "
                 "<Response/> for an unknown number or one answered too often."),
           403: ({"text/plain": {}}, "The signature is missing or wrong.")},
          request=SMS_FORM),
    Route("POST /slack/interactions", "slackInteraction", "slack",
          "Slack's interactivity request for a button on an alert message (Acknowledge, "
          "Silence 1h); signed with X-Slack-Signature (docs/notifications.md, Slack).",
          {200: ({}, "Taken; the message is updated afterwards."),
           401: ({"text/plain": {}}, "Unsigned, stale (over 5 minutes), forged or replayed.")},
          request=SLACK_FORM),
)
# fmt: on


LIMITED_HEADERS: Schema = {
    "Retry-After": {
        "description": "Seconds until a token is looked at again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
LIMITED = (m.Error, "Too many wrong tokens from this address (server.auth_failures); retry later.")
TOKEN_ANSWERS: dict[int, tuple[Body, str]] = {
    401: (m.Error, "Missing or wrong bearer token."),
    403: (m.Error, "Writes are off: no server.api_token is configured."),
    429: LIMITED,
}
CONTACT_ANSWERS: dict[int, tuple[Body, str]] = {401: (m.Error, "Wrong bearer token."), 429: LIMITED}
TOO_LARGE = (m.Error, "The body is over 1 MiB.")
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def ref(model: type[BaseModel]) -> Schema:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def models_in(body: Body | None) -> list[type[BaseModel]]:
    if body is None:
        return []
    if isinstance(body, type):
        return [body]
    return [media["schema"] for media in body.values() if isinstance(media.get("schema"), type)]


def content(body: Body) -> Schema:
    """A body's content by media type: a model alone is JSON; models become references."""
    media_types = {JSON: {"schema": body}} if isinstance(body, type) else body
    return {
        kind: {**media, "schema": ref(media["schema"])}
        if isinstance(media.get("schema"), type)
        else media
        for kind, media in media_types.items()
    }


def operation(route: Route) -> Schema:
    answers = dict(route.answers)
    if route.access == "token":
        answers.update(TOKEN_ANSWERS)
        answers.setdefault(413, TOO_LARGE)
    elif route.access == "contacts":
        answers.update(CONTACT_ANSWERS)
    responses: Schema = {}
    for status, (body, description) in answers.items():
        responses[str(status)] = {"description": description, "content": content(body)}
        if status == 429:
            responses[str(status)]["headers"] = LIMITED_HEADERS
    out: Schema = {"summary": route.summary, "tags": [route.tag], "operationId": route.operation_id}
    if route.params:
        out["parameters"] = list(route.params)
    if route.request is not None:
        out["requestBody"] = {"content": content(route.request)}
        if isinstance(route.request, type):
            out["requestBody"]["required"] = True
    out["responses"] = responses
    if route.access == "token":
        out["security"] = BEARER
    elif route.access == "contacts":
        out["security"] = [{}, *BEARER]  # optional: with it, contacts' addresses show
    return out


def models_used() -> list[type[BaseModel]]:
    """Every model a route names, in the order met."""
    found: dict[type[BaseModel], None] = {m.Error: None}
    for route in ROUTES:
        for body in [*(body for body, _ in route.answers.values()), route.request]:
            found.update(dict.fromkeys(models_in(body)))
    return list(found)


def components() -> dict[str, Schema]:
    """The JSON Schemas of the models: answers as serialized, request bodies as validated."""
    requests = {r.request for r in ROUTES if isinstance(r.request, type)}
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation" if model in requests else "serialization") for model in models_used()
    ]
    _, schema = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    defs: dict[str, Schema] = schema.get("$defs", {})
    return defs


def build() -> Schema:
    paths: dict[str, Schema] = {}
    for route in ROUTES:
        method, path = route.route.split(" ")
        paths.setdefault(path, {})[method.lower()] = operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sentinel API",
            "version": __version__,
            "description": "Monitoring daemon API. Reads are open (contacts' addresses only "
            "with the token); writes need `Authorization: Bearer <server.api_token>`; wrong "
            "tokens are limited per client address (429). Bodies are at most 1 MiB. Lists are "
            'pages (`limit` 1..1000, default 100; `offset`). Errors are `{"error": "..."}`.',
        },
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "server.api_token from the config.",
                }
            },
        },
        "paths": paths,
    }


DOCUMENT: Schema = build()


def document() -> Schema:
    """A fresh copy of the document (callers may change theirs)."""
    return copy.deepcopy(DOCUMENT)
