"""SENTINEL_PROBE_SOURCE_ADDRESS: HTTP, TCP and TLS probes connect from the address
given (the quorum test puts two locations on 127.0.0.2 and 127.0.0.3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from sentinel.clock import SystemClock
from sentinel.config import HttpCheck, TcpCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.http import HttpProbe
from sentinel.probes.tcp import TcpProbe


@pytest.fixture
async def peers() -> AsyncIterator[tuple[int, list[str]]]:
    """An HTTP server that answers 500 to 127.0.0.2 and 200 to anyone else, and records
    the address each request came from."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        peer = request.remote or ""
        seen.append(peer)
        return web.Response(status=500 if peer == "127.0.0.2" else 200)

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield int(port), seen
    await runner.cleanup()


@pytest.mark.parametrize("fresh", [False, True])
async def test_http_probe_connects_from_the_source_address(
    peers: tuple[int, list[str]], fresh: bool
) -> None:
    """From 127.0.0.2 the server answers 500; from 127.0.0.3, 200 (shared and own sessions)."""
    port, seen = peers
    check = HttpCheck.model_validate(
        {"type": "http", "name": "t", "url": f"http://127.0.0.1:{port}/", "fresh_connection": fresh}
    )
    outcomes = []
    for source in ("127.0.0.2", "127.0.0.3"):
        ctx = ProbeContext(clock=SystemClock(), source_address=source)
        probe = HttpProbe(check, ctx)
        outcomes.append((await probe.run()).ok)
        await probe.close()
        await ctx.close()
    assert seen == ["127.0.0.2", "127.0.0.3"]
    assert outcomes == [False, True]


async def test_tcp_probe_connects_from_the_source_address() -> None:
    """The TCP probe's connection starts from the source address."""
    peers: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        check = TcpCheck.model_validate({"type": "tcp", "name": "t", "target": f"127.0.0.1:{port}"})
        ctx = ProbeContext(clock=SystemClock(), source_address="127.0.0.3")
        assert (await TcpProbe(check, ctx).run()).ok
        await ctx.close()
        await asyncio.sleep(0)
    finally:
        server.close()
        await server.wait_closed()
    assert peers == ["127.0.0.3"]
