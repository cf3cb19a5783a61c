"""Incident status updates over HTTP (issue 20).

``POST /api/v1/incidents/{id}/updates`` (token required, like every write) takes::

    {"status": "monitoring", "text": "Rolled back deploy 42", "next_steps": "watch 1h",
     "eta": "30m", "by": "alice", "sms": false}

records the update on the incident's timeline and sends it to everyone told about the
incident's firing so far (:class:`sentinel.escalation.desk.Desk`). Answers 201
``{"id", "status", "recipients"}``; 400 for a bad body, 404 for an unknown incident,
409 when the incident is over (resolved: an update would follow the all-clear).

``GET /api/v1/incidents/{id}/updates`` (no token needed: updates hold no contact
details; a wrong one is refused as on every read) answers ``{"id", "status", "updates": [...]}``, oldest first.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from sentinel.clock import iso
from sentinel.config.units import parse_duration
from sentinel.escalation.desk import Desk, NoSuchIncident
from sentinel.escalation.updates import (
    MAX_UPDATE,
    STATUSES,
    IncidentClosed,
    UpdateRefused,
    status_of,
)
from sentinel.store.protocols import IncidentStore
from sentinel.web import openapi as spec
from sentinel.web.auth import Gate

FIELDS = frozenset({"status", "text", "next_steps", "eta", "by", "sms"})
TEXTS = ("status", "text", "next_steps", "by")


class UpdateSource(Protocol):
    @property
    def incidents(self) -> Desk: ...

    @property
    def store(self) -> IncidentStore: ...


class BodyError(ValueError):
    pass


def _answer(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


def parse_body(body: Any) -> dict[str, Any]:
    """The update's arguments from a JSON body; BodyError (one line) when unusable."""
    if not isinstance(body, dict):
        raise BodyError("body must be a JSON object")
    unknown = set(body) - FIELDS
    if unknown:
        raise BodyError(f"unknown fields: {', '.join(sorted(unknown)[:5])}")
    for key in TEXTS:
        if key in body and not isinstance(body[key], str):
            raise BodyError(f"{key} must be text")
    if len(body.get("by", "")) > 100:
        raise BodyError("by is longer than 100 characters")
    if not body.get("status"):
        raise BodyError("status is required (investigating, identified, monitoring, resolved)")
    sms = body.get("sms", False)
    if not isinstance(sms, bool):
        raise BodyError("sms must be true or false")
    eta = body.get("eta")
    try:
        eta_in = None if eta in (None, "") else parse_duration(eta)
    except ValueError as exc:
        raise BodyError(f"eta: {exc}") from None
    return {
        "status": body["status"],
        "text": body.get("text", ""),
        "next_steps": body.get("next_steps", ""),
        "by": body.get("by", "") or "api",
        "eta_in": eta_in,
        "sms": sms,
    }


def add_update_routes(app: web.Application, source: UpdateSource, gate: Gate) -> None:
    async def post(request: web.Request) -> web.Response:
        denied = gate.refuse(request)
        if denied is not None:
            return denied
        try:
            raw = await request.json() if request.can_read_body else None
        except (ValueError, RecursionError):
            return _answer("body must be JSON", 400)
        try:
            args = parse_body(raw)
        except BodyError as exc:
            return _answer(str(exc), 400)
        incident_id = request.match_info["id"]
        try:
            posted = await source.incidents.post(
                incident_id,
                args["status"],
                args["text"],
                by=args["by"],
                next_steps=args["next_steps"],
                eta_in=args["eta_in"],
                sms=args["sms"],
            )
        except NoSuchIncident:
            return _answer("no such incident", 404)
        except IncidentClosed as exc:
            return _answer(str(exc), 409)
        except UpdateRefused as exc:
            return _answer(str(exc), 400)
        return web.json_response(posted.to_json(), status=201)

    async def listing(request: web.Request) -> web.Response:
        shown = gate.reader(request)  # a wrong token is refused here as on every read
        if isinstance(shown, web.Response):
            return shown
        found = await source.store.incident(request.match_info["id"])
        if found is None:
            return _answer("no such incident", 404)
        incident, events = found
        updates = [
            {"at": iso(e.at), **{k: v for k, v in e.detail.items() if k != "sms"}}
            for e in events
            if e.kind == "update"
        ]
        for u in updates:
            u["eta"] = iso(u.get("eta"))
        body = {"id": incident.id, "status": status_of(incident, events), "updates": updates}
        return web.json_response(body)

    app.router.add_post("/api/v1/incidents/{id}/updates", post)
    app.router.add_get("/api/v1/incidents/{id}/updates", listing)


# -- OpenAPI: registered into the served document here, so web/openapi.py is untouched --

_TEXT: dict[str, Any] = {"type": "string", "maxLength": MAX_UPDATE}
_UPDATE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status", "text"],
    "properties": {
        "status": {"type": "string", "enum": list(STATUSES)},
        "text": {**_TEXT, "minLength": 1, "description": "Progress: what is known and done."},
        "next_steps": _TEXT,
        "eta": {
            "type": ["string", "number", "null"],
            "description": "When it should be over, from now: 30m, 2h, or seconds.",
        },
        "by": {"type": "string", "maxLength": 100},
        "sms": {"type": "boolean", "description": "Text the people told by SMS too."},
    },
}
_POSTED: dict[str, Any] = {
    "type": "object",
    "required": ["id", "status", "recipients"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "recipients": {"type": "integer", "minimum": 0},
    },
}
_UPDATES: dict[str, Any] = {
    "type": "object",
    "required": ["id", "status", "updates"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "updates": {"type": "array", "items": {"type": "object"}},
    },
}
spec.PATHS.setdefault(
    "/api/v1/incidents/{id}/updates",
    {
        "post": spec.op(
            "Post a status update: recorded, then sent to everyone told about the incident.",
            "incidents",
            {
                "201": spec.body(_POSTED, "Recorded and queued for everyone told."),
                "400": spec.BAD,
                "404": spec.NOT_FOUND,
                "409": spec.err("The incident is over: resolved, or no longer escalating."),
            },
            params=[spec.INCIDENT_ID],
            request={"required": True, "content": {spec.JSON: {"schema": _UPDATE_BODY}}},
            write=True,
            operation_id="postIncidentUpdate",
        ),
        "get": spec.op(
            "An incident's status and its status updates, oldest first.",
            "incidents",
            {"200": spec.body(_UPDATES, "The updates."), "404": spec.NOT_FOUND},
            params=[spec.INCIDENT_ID],
            operation_id="getIncidentUpdates",
        ),
    },
)
