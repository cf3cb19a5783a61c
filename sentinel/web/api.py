"""The REST API under /api/v1, described by /api/v1/openapi.json (sentinel/web/openapi.py).

Reads need nothing; every write needs ``Authorization: Bearer <server.api_token>``
(401 when missing or wrong, 403 when no token is configured, 429 after too many
wrong tokens: :mod:`sentinel.web.auth`). Reads show contact addresses only with the
token (alerts' notified targets, incident timelines). Lists are pages:
``?limit=`` 1..1000 (default 100) and ``?offset=`` >= 0 give
``{items, total, limit, offset, next}`` where ``next`` is the next page's URL or
null. Every error under /api/ and /-/ is JSON ``{"error": "..."}``. What every
handler shares (errors, query parameters, pages, bodies) is in
:mod:`sentinel.web.api_requests`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

import structlog
from aiohttp import web
from pydantic import ValidationError

from sentinel.clock import Clock
from sentinel.config import Config, parse_duration
from sentinel.escalation.incidents import Incident, IncidentEvent, to_markdown
from sentinel.probes.results import Result, sample_key
from sentinel.reports.build import ReportSource, build_report
from sentinel.store.protocols import HistoryStore, IncidentStore
from sentinel.web import models as m
from sentinel.web.acks import AckSource
from sentinel.web.api_requests import (
    MAX_LIMIT,
    choice_param,
    error,
    int_param,
    json_errors,
    json_object,
    page,
    paging,
    since_param,
    sliced,
)
from sentinel.web.auth import Gate
from sentinel.web.models import dumped, request_problem
from sentinel.web.openapi import document
from sentinel.web.views import alert_shown

log = structlog.get_logger("sentinel.web.api")

MAX_REPORT_PERIOD = 366 * 86400.0
CHECK_STATES = ("up", "down", "pending", "unsupported")
ALERT_STATES = ("pending", "firing")
INCIDENT_ID = re.compile(r"INC-\d{8}-\d{6}-[0-9A-Za-z]{1,16}")
WRITE_UP = ("root_cause", "resolution", "preventive")


class ApiStore(HistoryStore, IncidentStore, ReportSource, Protocol):
    """What the API reads of the store: check history, incidents, and what a report reads."""


class ApiSource(AckSource, Protocol):
    """What the API reads and changes; the daemon provides it."""

    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> ApiStore: ...

    def list_silences(self) -> list[dict[str, Any]]: ...

    async def add_silence(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def expire_silence(self, silence_id: str) -> bool: ...

    async def reload(self) -> list[str]:
        """The problems of a reload that failed (the running config stays); [] on success."""
        ...

    def oncall_now(self) -> list[dict[str, Any]]: ...

    def maintenance(self) -> list[dict[str, Any]]: ...

    def redacted_config(self) -> dict[str, Any]: ...


# -- views --------------------------------------------------------------------


def _result_view(r: Result) -> dict[str, Any]:
    return {
        "started_at": r.started_at.isoformat(),
        "duration": r.duration,
        "ok": r.ok,
        "error": r.error,
        "samples": {sample_key(s.name, s.labels): s.value for s in r.samples},
    }


def add_api_routes(app: web.Application, source: ApiSource, gate: Gate) -> None:
    """Every /api/v1 route but /api/v1/status, plus /api/v1/openapi.json and /-/reload."""
    app.middlewares.append(json_errors)
    spec = document()
    refuse = gate.refuse

    def reader(
        handler: Callable[[web.Request, bool], Awaitable[web.Response]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A read that shows contact details with the token (``with_contacts``)."""

        async def read(request: web.Request) -> web.Response:
            shown = gate.reader(request)
            return shown if isinstance(shown, web.Response) else await handler(request, shown)

        return read

    def guarded(
        handler: Callable[[web.Request], Awaitable[web.Response]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def write(request: web.Request) -> web.Response:
            denied = refuse(request)
            return denied if denied is not None else await handler(request)

        return write

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(spec)

    # -- checks ------------------------------------------------------------

    async def list_checks(request: web.Request) -> web.Response:
        state = choice_param(request, "state", CHECK_STATES)
        service = request.query.get("service")
        checks = [
            dumped(m.Check, c)
            for c in source.status()["checks"]
            if (state is None or c["state"] == state)
            and (service is None or c["labels"].get("service") == service)
        ]
        return web.json_response(dumped(m.CheckPage, sliced(request, checks)))

    async def one_check(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        recent = int_param(request, "recent", 20, 1, MAX_LIMIT)
        found = next((c for c in source.status()["checks"] if c["name"] == name), None)
        if found is None:
            return error("no such check", 404)
        results = await source.store.recent_results(name, recent)
        detail = {**found, "recent": [_result_view(r) for r in results]}
        return web.json_response(dumped(m.CheckDetail, detail))

    # -- alerts ------------------------------------------------------------

    async def list_alerts(request: web.Request, with_contacts: bool) -> web.Response:
        state = choice_param(request, "state", ALERT_STATES)
        alerts = [
            alert_shown(a, with_contacts)
            for a in source.status()["alerts"]
            if state is None or a["state"] == state
        ]
        body = sliced(request, alerts)
        body["alerts"] = body["items"]  # before pages, the list was {"alerts": [...]}
        return web.json_response(dumped(m.AlertPage, body))

    async def one_alert(request: web.Request, with_contacts: bool) -> web.Response:
        found = source.alert(request.match_info["id"])
        if found is None:
            return error("no such active alert", 404)
        return web.json_response(dumped(m.Alert, alert_shown(found, with_contacts)))

    async def ack(request: web.Request) -> web.Response:
        try:
            asked = m.AckRequest.model_validate(await json_object(request))
        except ValidationError as exc:
            if all(e["loc"][:1] == ("via",) for e in exc.errors()):
                return error("via (how) must be one lower-case word, e.g. cli", 400)
            return error("by (who acknowledges) is required", 400)
        done = await source.acknowledge(request.match_info["id"], asked.by.strip()[:100], asked.via)
        if done is None:
            return error("no such escalating alert", 404)
        return web.json_response(dumped(m.Alert, done))

    async def unack(request: web.Request) -> web.Response:
        done = await source.unacknowledge(request.match_info["id"])
        if done is None:
            return error("no such acknowledged alert", 404)
        return web.json_response(dumped(m.Alert, done))

    # -- silences ----------------------------------------------------------

    async def list_silences(request: web.Request) -> web.Response:
        body = sliced(request, source.list_silences())
        body["silences"] = body["items"]  # before pages, the list was {"silences": [...]}
        return web.json_response(dumped(m.SilencePage, body))

    async def create_silence(request: web.Request) -> web.Response:
        body = await json_object(request)
        try:
            created = await source.add_silence(body)
        except ValueError as exc:
            return error(str(exc), 400)
        except OverflowError:  # a duration or start beyond what a date can hold
            return error("the silence would end beyond the year 9999", 400)
        return web.json_response(dumped(m.Silence, created), status=201)

    async def expire_silence(request: web.Request) -> web.Response:
        silence_id = request.match_info["id"]
        if await source.expire_silence(silence_id):
            return web.json_response(dumped(m.Expired, {"expired": silence_id}))
        return error("no such active silence", 404)

    # -- incidents ---------------------------------------------------------

    async def find_incident(request: web.Request) -> tuple[Incident, list[IncidentEvent]] | None:
        incident_id = request.match_info["id"]
        if not INCIDENT_ID.fullmatch(incident_id):
            return None
        return await source.store.incident(incident_id)

    async def list_incidents(request: web.Request) -> web.Response:
        limit, offset = paging(request)
        since = since_param(request)
        total = await source.store.count_incidents(since)
        found = await source.store.incidents(limit=limit, offset=offset, since=since)
        shown = page(request, [i.to_json() for i in found], total, limit, offset)
        return web.json_response(dumped(m.IncidentPage, shown))

    async def one_incident(request: web.Request, with_contacts: bool) -> web.Response:
        found = await find_incident(request)
        if found is None:
            return error("no such incident", 404)
        return web.json_response(
            dumped(m.IncidentDetail, found[0].to_json(found[1], with_contacts))
        )

    async def timeline(request: web.Request, with_contacts: bool) -> web.Response:
        found = await find_incident(request)
        if found is None:
            return error("no such incident", 404)
        shown = found[0].to_json(found[1], with_contacts)
        return web.json_response(
            dumped(m.Timeline, {"id": found[0].id, "timeline": shown["timeline"]})
        )

    async def update_incident(request: web.Request) -> web.Response:
        try:
            update = m.IncidentUpdate.model_validate(await json_object(request))
        except ValidationError as exc:
            return error(request_problem(exc), 400)
        by = update.by.strip()[:100] or "api"
        note = update.note if update.note.strip() else None
        fields = {k: getattr(update, k) for k in WRITE_UP if k in update.model_fields_set}
        if not fields and note is None:
            return error("nothing to change: give root_cause, resolution, preventive or note", 400)
        found = await find_incident(request)
        if found is None:
            return error("no such incident", 404)
        stored, events = found
        updated = replace(stored, **fields)
        changed = list(fields)
        added: list[IncidentEvent] = []
        if note is not None:
            added.append(IncidentEvent(source.clock.now().timestamp(), "note", note, {"by": by}))
        await source.store.write_up(stored.id, fields, added)
        log.info("incident_updated", incident=updated.id, by=by, fields=changed, note=bool(added))
        shown = updated.to_json([*events, *added], with_contacts=True)
        return web.json_response(dumped(m.IncidentDetail, shown))

    async def export(request: web.Request, with_contacts: bool) -> web.Response:
        fmt = request.query.get("format", "json")
        if fmt not in ("json", "markdown"):
            return error("format must be json or markdown", 400)
        found = await find_incident(request)
        if found is None:
            return error("no such incident", 404)
        incident, events = found
        if fmt == "markdown":
            return web.Response(
                text=to_markdown(incident, events, with_contacts),
                content_type="text/markdown",
                headers={"Content-Disposition": f'attachment; filename="{incident.id}.md"'},
            )
        return web.json_response(
            dumped(m.IncidentDetail, incident.to_json(events, with_contacts)),
            headers={"Content-Disposition": f'attachment; filename="{incident.id}.json"'},
        )

    # -- the rest ----------------------------------------------------------

    async def oncall(_: web.Request) -> web.Response:
        return web.json_response(dumped(m.OnCallList, {"items": source.oncall_now()}))

    async def maintenance(_: web.Request) -> web.Response:
        return web.json_response(dumped(m.MaintenanceList, {"items": source.maintenance()}))

    async def reports(request: web.Request) -> web.Response:
        raw = request.query.get("period", "7d")
        try:
            period = parse_duration(raw)
        except ValueError as exc:
            return error(f"period: {exc}", 400)
        if not 0 < period <= MAX_REPORT_PERIOD:
            return error("period must be more than 0s and at most 366d", 400)
        report: dict[str, Any] = await build_report(
            source.store, source.config, source.clock.now(), period
        )
        return web.json_response(report)

    async def config(request: web.Request) -> web.Response:
        # Secrets are redacted, but contacts' phone numbers and addresses are not:
        # the token is required as for writes.
        denied = refuse(request)
        if denied is not None:
            return denied
        return web.json_response(source.redacted_config())

    async def reload(_: web.Request) -> web.Response:
        problems = await source.reload()
        if problems:
            failed = {
                "reloaded": False,
                "error": "the config file is invalid; the running config is kept",
                "problems": problems,
            }
            return web.json_response(dumped(m.Reload, failed), status=400)
        return web.json_response(dumped(m.Reload, {"reloaded": True}))

    r = app.router
    r.add_get("/api/v1/openapi.json", openapi)
    r.add_get("/api/v1/checks", list_checks)
    r.add_get("/api/v1/checks/{name}", one_check)
    r.add_get("/api/v1/alerts", reader(list_alerts))
    r.add_get("/api/v1/alerts/{id}", reader(one_alert))
    r.add_post("/api/v1/alerts/{id}/ack", guarded(ack))
    r.add_post("/api/v1/alerts/{id}/unack", guarded(unack))
    r.add_get("/api/v1/silences", list_silences)
    r.add_post("/api/v1/silences", guarded(create_silence))
    r.add_delete("/api/v1/silences/{id}", guarded(expire_silence))
    r.add_get("/api/v1/incidents", list_incidents)
    r.add_get("/api/v1/incidents/{id}", reader(one_incident))
    r.add_patch("/api/v1/incidents/{id}", guarded(update_incident))
    r.add_get("/api/v1/incidents/{id}/timeline", reader(timeline))
    r.add_get("/api/v1/incidents/{id}/export", reader(export))
    r.add_get("/api/v1/oncall", oncall)
    r.add_get("/api/v1/maintenance", maintenance)
    r.add_get("/api/v1/reports", reports)
    r.add_get("/api/v1/config", config)
    r.add_post("/-/reload", guarded(reload))
