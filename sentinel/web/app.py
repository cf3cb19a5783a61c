"""aiohttp application: /health, /ready, /metrics, /api/v1/status and the pings here;
the REST API in :mod:`sentinel.web.api`, the signed ack links in :mod:`sentinel.web.acks`.

What handlers show comes from a :class:`StatusSource` that the daemon provides.
/metrics renders in a worker thread so a scrape of 10,000 checks does not stall
probes on the event loop.
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
from sentinel.web.headers import MAX_BODY, secure_answers
from sentinel.web.incident_updates import UpdateSource, add_update_routes
from sentinel.web.models import Health, Readiness, dumped
from sentinel.web.page import PageSource, add_page_routes
from sentinel.web.public_page import add_public_routes
from sentinel.web.slo_api import add_slo_routes
from sentinel.web.twilio_voice import VoiceSource, add_twilio_voice_routes
from sentinel.web.views import contacts_shown


class StatusSource(ApiSource, PageSource, VoiceSource, UpdateSource, Protocol):
    def readiness(self) -> dict[str, Any]:
        """Must contain ``ready: bool``; the rest explains it."""
        ...

    async def store_reachable(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    async def ping(self, name: str, kind: PingKind, key: str | None) -> tuple[int, str]: ...

    def api_token(self) -> str | None: ...

    async def cluster(self) -> dict[str, Any]: ...


def create_app(source: StatusSource, metrics: Metrics) -> web.Application:
    app = web.Application(middlewares=[secure_answers], client_max_size=MAX_BODY)
    gate = Gate(source, FailureLimiter(source.clock, configured_limits(source)))
    render_lock = asyncio.Lock()

    async def health(_: web.Request) -> web.Response:
        return web.json_response(dumped(Health, {"status": "alive"}))

    async def ready(_: web.Request) -> web.Response:
        body = source.readiness()
        body["store_reachable"] = await source.store_reachable()
        body["ready"] = bool(body["ready"] and body["store_reachable"])
        return web.json_response(dumped(Readiness, body), status=200 if body["ready"] else 503)

    async def metrics_page(_: web.Request) -> web.Response:
        # One render at a time: concurrent scrapes would each pay the full cost.
        async with render_lock:
            frozen = metrics.snapshot()  # on the loop: the live state changes only here
            payload = await asyncio.get_running_loop().run_in_executor(None, metrics.render, frozen)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

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
    add_cluster_routes(app, source.cluster, gate)  # several replicas (issue 16)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/api/v1/status", status)
    add_page_routes(app, source)
    add_twilio_voice_routes(app, source, gate)
    add_public_routes(app, source)
    for suffix, kind in (("", "success"), ("/start", "start"), ("/fail", "fail")):
        handler = pinger(kind)  # type: ignore[arg-type]
        app.router.add_route("GET", "/ping/{name}" + suffix, handler)
        app.router.add_route("POST", "/ping/{name}" + suffix, handler)
    return app
