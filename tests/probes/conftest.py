"""A local HTTP(S) server with one route per behaviour the probes must handle."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from aiohttp import web

from sentinel.clock import FakeClock
from sentinel.probes.base import ProbeContext
from sentinel.probes.results import Outcome

BIG = 2 * 1024 * 1024
HEALTHY = {"status": "healthy", "database": "connected", "uptime": 42, "ready": True, "load": "0.5"}


@dataclass
class Server:
    url: str
    peers: list[int] = field(default_factory=list)


def make_app(peers: list[int]) -> web.Application:
    forever = asyncio.Event()

    async def ok(_: web.Request) -> web.Response:
        return web.json_response(HEALTHY)

    async def degraded(_: web.Request) -> web.Response:
        return web.json_response({"status": "degraded", "uptime": "n/a"})

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="x")

    async def text(_: web.Request) -> web.Response:
        return web.Response(text="<html>hello world</html>", content_type="text/html")

    async def redirect(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        raise web.HTTPFound("/ok" if n <= 0 else f"/redirect/{n - 1}")

    async def slow(_: web.Request) -> web.Response:
        await forever.wait()
        return web.Response(text="never")

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * BIG)

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(BIG // 65536):
            await resp.write(b"y" * 65536)
        await resp.write_eof()
        return resp

    async def auth(request: web.Request) -> web.Response:
        expected = request.query.get("expect", "")
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"status": "healthy"})

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "method": request.method,
                "body": await request.text(),
                "content_type": request.headers.get("Content-Type", ""),
                "x_probe": request.headers.get("X-Probe", ""),
            }
        )

    async def peer(request: web.Request) -> web.Response:
        info = request.transport.get_extra_info("peername") if request.transport else None
        peers.append(int(info[1]) if info else -1)
        return web.json_response({"status": "healthy"})

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/degraded", degraded)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/text", text)
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_get("/slow", slow)
    app.router.add_get("/big", big)
    app.router.add_get("/stream", stream)
    app.router.add_get("/auth", auth)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/peer", peer)
    return app


async def serve(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    peers: list[int] = []
    runner = web.AppRunner(make_app(peers), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if ssl_context else "http"
    host = "localhost" if ssl_context else "127.0.0.1"
    yield Server(url=f"{scheme}://{host}:{port}", peers=peers)
    await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async for s in serve():
        yield s


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def sample_values(outcome: Outcome) -> dict[str, float]:
    """Samples by ``name{label=value}``, for assertions."""
    return {s.name + "".join(f"{{{k}={v}}}" for k, v in s.labels): s.value for s in outcome.samples}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=NOW)


@pytest.fixture
async def ctx(clock: FakeClock) -> AsyncIterator[ProbeContext]:
    context = ProbeContext(clock=clock)
    yield context
    await context.close()


@dataclass
class Tls:
    ca: trustme.CA
    ca_file: str
    not_after: datetime


@pytest.fixture
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    # Verification uses the real time, so the certificate must be valid now.
    not_after = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    return Tls(ca=ca, ca_file=str(path), not_after=not_after)


def server_context(
    tls: Tls, not_after: datetime, not_before: datetime | None = None
) -> ssl.SSLContext:
    cert = tls.ca.issue_cert("localhost", not_after=not_after, not_before=not_before)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture
async def https_server(tls: Tls) -> AsyncIterator[Server]:
    async for s in serve(server_context(tls, tls.not_after)):
        yield s


@pytest.fixture
async def expired_server(tls: Tls) -> AsyncIterator[Server]:
    past = datetime.now(UTC) - timedelta(days=2)
    async for s in serve(server_context(tls, past, past - timedelta(days=30))):
        yield s
