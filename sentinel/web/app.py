"""aiohttp application: /health, /ready, /metrics and /api/v1/status.

Handlers only read; what they show comes from a :class:`StatusSource` that
the daemon provides. /metrics renders in a worker thread so a scrape of
10,000 checks does not stall probes on the event loop.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from sentinel.heartbeats import PingKind
from sentinel.metrics import Metrics
from sentinel.web.acks import AckSource, add_ack_routes


class StatusSource(AckSource, Protocol):
    def readiness(self) -> dict[str, Any]:
        """Must contain ``ready: bool``; the rest explains it."""
        ...

    async def store_reachable(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    async def ping(self, name: str, kind: PingKind, key: str | None) -> tuple[int, str]: ...

    def api_token(self) -> str | None: ...

    def list_silences(self) -> list[dict[str, Any]]: ...

    async def add_silence(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def expire_silence(self, silence_id: str) -> bool: ...


def create_app(source: StatusSource, metrics: Metrics) -> web.Application:
    app = web.Application()
    render_lock = asyncio.Lock()

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(_: web.Request) -> web.Response:
        body = source.readiness()
        body["store_reachable"] = await source.store_reachable()
        body["ready"] = bool(body["ready"] and body["store_reachable"])
        return web.json_response(body, status=200 if body["ready"] else 503)

    async def metrics_page(_: web.Request) -> web.Response:
        # One render at a time: concurrent scrapes would each pay the full cost.
        async with render_lock:
            payload = await asyncio.get_running_loop().run_in_executor(None, metrics.render)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status(_: web.Request) -> web.Response:
        return web.json_response(source.status())

    def pinger(kind: PingKind) -> Any:
        async def handle(request: web.Request) -> web.Response:
            key = request.query.get("key") or request.headers.get("X-Sentinel-Key")
            status, text = await source.ping(request.match_info["name"], kind, key)
            return web.Response(status=status, text=text + "\n")

        return handle

    def refuse(request: web.Request) -> web.Response | None:
        """Write endpoints need ``Authorization: Bearer <server.api_token>``."""
        token = source.api_token()
        if token is None:
            return web.json_response({"error": "set server.api_token to enable writes"}, status=403)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        return None

    async def silences(_: web.Request) -> web.Response:
        return web.json_response({"silences": source.list_silences()})

    async def create_silence(request: web.Request) -> web.Response:
        denied = refuse(request)
        if denied is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        try:
            created = await source.add_silence(body)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(created, status=201)

    async def expire(request: web.Request) -> web.Response:
        denied = refuse(request)
        if denied is not None:
            return denied
        if await source.expire_silence(request.match_info["id"]):
            return web.json_response({"expired": request.match_info["id"]})
        return web.json_response({"error": "no such active silence"}, status=404)

    async def index(_: web.Request) -> web.Response:
        raise web.HTTPFound("/api/v1/status")

    add_ack_routes(app, source, refuse)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/", index)
    app.router.add_get("/api/v1/silences", silences)
    app.router.add_post("/api/v1/silences", create_silence)
    app.router.add_delete("/api/v1/silences/{id}", expire)
    for suffix, kind in (("", "success"), ("/start", "start"), ("/fail", "fail")):
        handler = pinger(kind)  # type: ignore[arg-type]
        app.router.add_route("GET", "/ping/{name}" + suffix, handler)
        app.router.add_route("POST", "/ping/{name}" + suffix, handler)
    return app
