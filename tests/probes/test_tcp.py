"""TCP probe against real local sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from sentinel.config import TcpCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.tcp import TcpProbe


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A server that answers PING with +PONG and anything else with -ERR."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"+PONG\r\n" if line.strip() == b"PING" else b"-ERR\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


def tcp(port: int, **options: str) -> TcpCheck:
    return TcpCheck.model_validate(
        {"type": "tcp", "name": "t", "target": f"127.0.0.1:{port}", **options}
    )


async def test_connect_reports_latency(ctx: ProbeContext, echo_port: int) -> None:
    """A listening port passes and reports connect_seconds from the clock."""
    outcome = await TcpProbe(tcp(echo_port), ctx).run()
    assert outcome.ok
    assert [s.name for s in outcome.samples] == ["connect_seconds"]


async def test_refused(ctx: ProbeContext) -> None:
    """A port where nothing listens fails as 'connection refused'."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = await TcpProbe(tcp(port), ctx).run()
    assert outcome.error == "connection refused"


async def test_send_and_expect(ctx: ProbeContext, echo_port: int) -> None:
    """The expected reply to what was sent passes."""
    outcome = await TcpProbe(tcp(echo_port, send="PING\r\n", expect="+PONG"), ctx).run()
    assert outcome.ok, outcome.error


async def test_expected_reply_missing(ctx: ProbeContext, echo_port: int) -> None:
    """A different reply fails with the expected text named."""
    outcome = await TcpProbe(tcp(echo_port, send="HELLO\r\n", expect="+PONG"), ctx).run()
    assert outcome.error == "expected reply '+PONG' not received"
    assert outcome.samples[0].name == "connect_seconds"
