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

import hmac
import html
from typing import Any, Protocol

from aiohttp import web

from sentinel.clock import iso
from sentinel.config.units import parse_duration
from sentinel.escalation.desk import Desk, NoSuchIncident
from sentinel.escalation.updates import (
    MAX_UPDATE,
    STATUSES,
    Draft,
    IncidentClosed,
    UpdateRefused,
    status_of,
)
from sentinel.store.protocols import IncidentStore
from sentinel.web.auth import Gate

FIELDS = frozenset({"status", "text", "next_steps", "eta", "by", "sms"})
TEXTS = ("status", "text", "next_steps", "by")


class UpdateSource(Protocol):
    @property
    def incidents(self) -> Desk: ...

    def api_token(self) -> str | None: ...

    @property
    def store(self) -> IncidentStore: ...


class BodyError(ValueError):
    pass


def _answer(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _page_answer(message: str, status: int) -> web.Response:
    text = f"<!DOCTYPE html><title>sentinel</title><p>{html.escape(message)}</p>"
    return web.Response(
        text=text + '<p><a href="/">Back</a></p>', status=status, content_type="text/html"
    )


def parse_body(body: Any) -> Draft:
    """The update from a JSON body; BodyError (one line) when unusable."""
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
    return Draft(
        status=body["status"],
        text=body.get("text", ""),
        next_steps=body.get("next_steps", ""),
        by=body.get("by", "") or "api",
        eta_in=eta_in,
        sms=sms,
    )


def add_update_routes(app: web.Application, source: UpdateSource, gate: Gate) -> None:
    async def send(incident_id: str, raw: Any) -> tuple[int, dict[str, Any]]:
        """Post one update: the HTTP status and the answer (``{"error": ...}`` if refused)."""
        try:
            posted = await source.incidents.post(incident_id, parse_body(raw))
        except NoSuchIncident:
            return 404, {"error": "no such incident"}
        except IncidentClosed as exc:
            return 409, {"error": str(exc)}
        except (BodyError, UpdateRefused) as exc:
            return 400, {"error": str(exc)}
        return 201, posted.to_json()

    async def post(request: web.Request) -> web.Response:
        denied = gate.refuse(request)
        if denied is not None:
            return denied
        try:
            raw = await request.json() if request.can_read_body else None
        except (ValueError, RecursionError):
            return _answer("body must be JSON", 400)
        status, answer = await send(request.match_info["id"], raw)
        return web.json_response(answer, status=status)

    async def form(request: web.Request) -> web.Response:
        """The status page's update form: the API token is one of its fields (an update
        reaches everyone paged, so the page's CSRF cookie alone is not enough)."""
        data = await request.post()
        given = data.get("token")
        token = source.api_token()
        if token is None:
            return _page_answer("Updates need server.api_token to be set.", 403)
        if not isinstance(given, str) or not given:
            return _page_answer("Type the API token to send an update.", 403)
        key = gate.client(request)
        limited = gate.limited(key)
        if limited is not None:
            return limited
        if not hmac.compare_digest(given.encode(), token.encode()):
            gate.limiter.failed(key)
            return _page_answer("Wrong API token.", 403)
        fields = {k: data.get(k) for k in ("status", "text", "next_steps", "eta", "by")}
        body: dict[str, Any] = {k: v for k, v in fields.items() if isinstance(v, str) and v}
        body["sms"] = data.get("sms") == "1"
        status, answer = await send(request.match_info["id"], body)
        if status != 201:
            return _page_answer(f"Update refused: {answer['error']}", status)
        raise web.HTTPSeeOther("/#incidents")

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

    app.router.add_post("/ui/incidents/{id}/updates", form)
    app.router.add_post("/api/v1/incidents/{id}/updates", post)
    app.router.add_get("/api/v1/incidents/{id}/updates", listing)


# -- OpenAPI ------------------------------------------------------------------------
# The bodies of the update routes, as JSON Schema; web/openapi.py's route table names them.

_TEXT: dict[str, Any] = {"type": "string", "maxLength": MAX_UPDATE}
_STATUS: dict[str, Any] = {"type": "string", "enum": list(STATUSES)}
UPDATE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status", "text"],
    "properties": {
        "status": _STATUS,
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


def _about_incident(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An answer about one incident: its id, its status, and ``name``."""
    return {
        "type": "object",
        "required": ["id", "status", name],
        "properties": {"id": {"type": "string"}, "status": _STATUS, name: schema},
    }


POSTED = _about_incident("recipients", {"type": "integer", "minimum": 0})
UPDATES = _about_incident("updates", {"type": "array", "items": {"type": "object"}})
