"""aiohttp application: /health, /ready, /metrics, /api/v1/status and the pings here;
the REST API in :mod:`sentinel.web.api`, the signed ack links in :mod:`sentinel.web.acks`.

What handlers show comes from a :class:`StatusSource` that the daemon provides.
/metrics renders in a worker thread, a piece at a time, so a scrape of 10,000 checks
does not stall probes on the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from sentinel.metrics import Metrics
from sentinel.probes.heartbeats import PingKind
from sentinel.web.acks import add_ack_routes
from sentinel.web.api import ApiSource, add_api_routes
from sentinel.web.auth import FailureLimiter, Gate, configured_limits
from sentinel.web.cluster_api import add_cluster_routes
from sentinel.web.headers import MAX_BODY, answer_errors, security_headers
from sentinel.web.incident_updates import UpdateSource, add_update_routes
from sentinel.web.models import Health, Readiness, dumped
from sentinel.web.page import PageSource, add_page_routes
from sentinel.web.public_page import add_public_routes
from sentinel.web.slack_interactions import InteractionSource, add_slack_routes
from sentinel.web.slo_api import add_slo_routes
from sentinel.web.sources import IntakeSource, add_source_routes
from sentinel.web.twilio_sms import SmsSource, add_twilio_sms_routes
from sentinel.web.twilio_voice import VoiceSource, add_twilio_voice_routes
from sentinel.web.views import contacts_shown


class StatusSource(
    ApiSource,
    PageSource,
    VoiceSource,
    UpdateSource,
    IntakeSource,
    InteractionSource,
    SmsSource,
    Protocol,
):
    def readiness(self) -> dict[str, Any]:
        """Must contain ``ready: bool``; the rest explains it."""
        ...

    async def store_reachable(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    async def ping(self, name: str, kind: PingKind, key: str | None) -> tuple[int, str]: ...

    def api_token(self) -> str | None: ...

    async def cluster(self) -> dict[str, Any]: ...


def create_app(source: StatusSource, metrics: Metrics) -> web.Application:
    app = web.Application(middlewares=[answer_errors], client_max_size=MAX_BODY)
    app.on_response_prepare.append(security_headers)
    gate = Gate(source, FailureLimiter(source.clock, configured_limits(source)))
    render_lock = asyncio.Lock()

    async def health(_: web.Request) -> web.Response:
        return web.json_response(dumped(Health, {"status": "alive"}))

    async def ready(_: web.Request) -> web.Response:
        body = source.readiness()
        body["store_reachable"] = await source.store_reachable()
        body["ready"] = bool(body["ready"] and body["store_reachable"])
        return web.json_response(dumped(Readiness, body), status=200 if body["ready"] else 503)

    async def metrics_page(request: web.Request) -> web.StreamResponse:
        # The page is made a piece at a time in a worker thread and each piece sent
        # before the next is made (metrics.Metrics.page): what a scrape holds is one
        # piece, and a client that reads slowly holds up only its own scrape. One
        # piece is made at a time, whoever it is for.
        loop = asyncio.get_running_loop()
        page = metrics.page(metrics.snapshot())  # the copy is taken here, on the loop

        async def made() -> bytes | None:  # None: the page is done
            async with render_lock:
                return await loop.run_in_executor(None, next, page, None)

        piece = await made()  # before the answer starts: a failure is still a 500
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
        await response.prepare(request)
        try:
            while piece is not None:
                await response.write(piece)
                piece = await made()
            await response.write_eof()
        except ConnectionResetError:  # the scraper went away (its timeout): nothing to say
            pass
        return response

    async def status(request: web.Request) -> web.Response:
        shown = gate.reader(request)
        if isinstance(shown, web.Response):
            return shown
        # In models.Status's shape, but not checked on the way out: it holds every check.
        return web.json_response(contacts_shown(source.status(), shown))

    def pinger(kind: PingKind) -> Any:
        async def handle(request: web.Request) -> web.Response:
            key = request.query.get("key") or request.headers.get("X-Sentinel-Key")
            client = gate.client(request)
            limited = gate.limited(client) if key else None
            if limited is not None:  # wrong keys count as wrong tokens do
                return limited
            status, text = await source.ping(request.match_info["name"], kind, key)
            if status == 403 and key:
                gate.limiter.failed(client)
            return web.Response(status=status, text=text + "\n")

        return handle

    add_ack_routes(app, source)
    add_api_routes(app, source, gate)
    add_update_routes(app, source, gate)
    add_slo_routes(app, source, gate)  # SLOs (issue 19)
    add_source_routes(app, source, metrics, gate)  # inbound alerts (issue 17)
    add_cluster_routes(app, source.cluster, gate)  # several replicas (issue 16)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/api/v1/status", status)
    add_page_routes(app, source)
    add_twilio_voice_routes(app, source, gate)
    add_twilio_sms_routes(app, source, gate, metrics)  # SMS replies (issue 17)
    add_slack_routes(app, source, metrics)  # Slack's buttons (issue 17)
    add_public_routes(app, source)
    for suffix, kind in (("", "success"), ("/start", "start"), ("/fail", "fail")):
        handler = pinger(kind)  # type: ignore[arg-type]
        app.router.add_route("GET", "/ping/{name}" + suffix, handler)
        app.router.add_route("POST", "/ping/{name}" + suffix, handler)
    return app
