"""Inbound alerts over HTTP (docs/sources.md):

- ``POST /api/v1/sources/alertmanager/{name}``: Alertmanager's webhook receiver;
- ``POST /api/v1/sources/grafana/{name}``: Grafana's webhook contact point;
- ``POST /api/v1/sources/events/{name}/v2/enqueue``: PagerDuty Events v2 (paste
  ``.../api/v1/sources/events/{name}`` where a tool asks for PagerDuty's base URL),
  and ``POST /v2/enqueue`` (sentinel's own address as the base URL: the routing key
  alone picks the source);
- ``GET /api/v1/sources``: each source, when it last spoke, its open alerts.

Refusals: an unknown source 404, bad credentials 401 (and counted against the client
like a wrong API token), a body over the source's ``max_body`` 413 (refused while it
is read, before any parsing), a malformed payload 400; each is counted by reason in
``sentinel_source_refusals_total``. The answer comes once the alerts are saved, so a
sender that sees an error retries and nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog
from aiohttp import web

from sentinel.config.models import Config
from sentinel.config.sources import Source
from sentinel.metrics import Metrics
from sentinel.sources import alertmanager, events, grafana
from sentinel.sources.auth import authorized, routing_key_ok
from sentinel.sources.inbound import Inbound, Malformed
from sentinel.store import StoreError
from sentinel.web.auth import Gate

log = structlog.get_logger("sentinel.web")

PREFIX = "/api/v1/sources/"
OFF_LOOP = 64 * 1024  # bodies larger than this are parsed in a worker thread
RETRY_AFTER = 5  # seconds a sender waits before trying again when the store is out
PARSERS: dict[str, Callable[[bytes], list[Inbound]]] = {
    "alertmanager": alertmanager.parse,
    "grafana": grafana.parse,
}


class IntakeSource(Protocol):
    @property
    def config(self) -> Config: ...

    async def take_alerts(self, source: str, batch: Sequence[Inbound]) -> dict[str, int]:
        """Decide, save, act; the count of alerts per outcome."""
        ...

    def sources_status(self) -> list[dict[str, Any]]: ...


class TooLarge(Exception):
    pass


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused (TooLarge) as soon as it passes ``limit`` bytes (after any
    Content-Encoding is undone), or at once when its declared length does."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


async def _parse(parser: Callable[[bytes], Any], body: bytes) -> Any:
    if len(body) > OFF_LOOP:
        return await asyncio.to_thread(parser, body)
    return parser(body)


def add_source_routes(
    app: web.Application, source: IntakeSource, metrics: Metrics, gate: Gate
) -> None:
    def find(kind: str, name: str) -> Source | None:
        return next((s for s in source.config.sources if s.name == name and s.type == kind), None)

    def refused(name: str, reason: str, status: int, message: str) -> web.Response:
        metrics.source_refusals.labels(name, reason).inc()
        log.info("source_refused", source=name, reason=reason)
        return web.json_response({"error": message}, status=status)

    async def take(name: str, batch: Sequence[Inbound]) -> dict[str, int] | None:
        """The batch taken, or None when the store could not be read first (several
        replicas read the shared state before deciding): nothing was decided, the
        sender is told to retry (503), never a 500."""
        try:
            counts = await source.take_alerts(name, batch)
        except StoreError as exc:
            metrics.source_refusals.labels(name, "store").inc()
            log.warning("source_refused", source=name, reason="store", error=type(exc).__name__)
            return None
        metrics.source_requests.labels(name).inc()
        metrics.source_last_spoke.labels(name).set_to_current_time()
        for outcome, n in counts.items():
            metrics.source_alerts.labels(name, outcome).inc(n)
        return counts

    def unavailable(body: dict[str, str]) -> web.Response:
        return web.json_response(body, status=503, headers={"Retry-After": str(RETRY_AFTER)})

    def webhook(kind: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            client = gate.client(request)
            limited = gate.limited(client)
            if limited is not None:
                return limited
            found = find(kind, request.match_info["name"])
            if found is None:
                return refused("unknown", "unknown_source", 404, f"no {kind} source of that name")
            name = found.name
            if not authorized(found, request.headers.get("Authorization")):
                gate.limiter.failed(client)
                return refused(name, "auth", 401, "missing or wrong credentials")
            try:
                body = await read_body(request, found.max_body)
                batch = await _parse(PARSERS[kind], body)
            except TooLarge:
                return refused(name, "too_large", 413, f"body over {found.max_body} bytes")
            except Malformed as exc:
                return refused(name, "malformed", 400, f"malformed {kind} payload: {exc}")
            counts = await take(name, batch)
            if counts is None:
                return unavailable({"error": "the store cannot be read now; retry"})
            return web.json_response({"status": "success", "alerts": counts})

        return handle

    def events_source(name: str | None, routing_key: str) -> Source | None:
        for s in source.config.sources:
            chosen = s.type == "events" and (name is None or s.name == name)
            if chosen and routing_key_ok(s, routing_key):
                return s
        return None

    async def enqueue(request: web.Request) -> web.Response:
        """PagerDuty's answers: 202 with the dedup_key, 400 for an invalid event."""
        client = gate.client(request)
        limited = gate.limited(client)
        if limited is not None:
            return limited
        name = request.match_info.get("name")
        named = find("events", name) if name is not None else None
        limits = [s.max_body for s in source.config.sources if s.type == "events"]
        if (name is not None and named is None) or not limits:
            return refused("unknown", "unknown_source", 404, "no events source of that name")
        limit = named.max_body if named is not None else max(limits)
        label = named.name if named is not None else "unknown"
        try:
            parsed = await _parse(events.parse, await read_body(request, limit))
        except TooLarge:
            return refused(label, "too_large", 413, f"body over {limit} bytes")
        except Malformed as exc:
            metrics.source_refusals.labels(label, "malformed").inc()
            return web.json_response(events.invalid(str(exc)), status=400)
        found = events_source(name, parsed.routing_key)
        if found is None:
            gate.limiter.failed(client)
            metrics.source_refusals.labels(label, "auth").inc()
            log.info("source_refused", source=label, reason="auth")
            return web.json_response(events.invalid("routing_key is not known"), status=401)
        if await take(found.name, [parsed.inbound]) is None:
            return unavailable({"status": "unavailable", "message": "retry later"})
        return web.json_response(events.accepted(parsed.inbound.key), status=202)

    async def list_sources(request: web.Request) -> web.Response:
        shown = gate.reader(request)
        if isinstance(shown, web.Response):
            return shown
        return web.json_response({"sources": source.sources_status()})

    app.router.add_post(PREFIX + "alertmanager/{name}", webhook("alertmanager"))
    app.router.add_post(PREFIX + "grafana/{name}", webhook("grafana"))
    app.router.add_post(PREFIX + "events/{name}/v2/enqueue", enqueue)
    app.router.add_post("/v2/enqueue", enqueue)
    app.router.add_get("/api/v1/sources", list_sources)
