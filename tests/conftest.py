"""Shared fixtures: a local HTTP target that tests steer, and free ports.

The target runs its own event loop in a thread, so it answers both async
tests and synchronous ones that call ``asyncio.run`` (the CLI).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import structlog
from aiohttp import web

from sentinel import logs


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """A test that configured logging (the CLI does) must not leave it writing to a
    stream pytest has closed since."""
    yield
    structlog.reset_defaults()
    logs.reset()


@dataclass
class Target:
    """A local HTTP service whose health the test controls."""

    url: str = ""
    healthy: bool = True
    hits: dict[str, int] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def serve_here(app: web.Application) -> AsyncIterator[int]:
    """Serve ``app`` on 127.0.0.1 on the test's own loop; yields the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def serve_in_thread(app: web.Application) -> Iterator[int]:
    """Serve ``app`` on 127.0.0.1 from its own event loop in a thread; yields the port.
    A thread, so it answers async tests and synchronous ones that call asyncio.run."""
    started = threading.Event()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    port = 0

    async def start() -> None:
        nonlocal port
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = int(runner.addresses[0][1])

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10), "test server did not start"
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def target() -> Iterator[Target]:
    state = Target()

    async def health(request: web.Request) -> web.Response:
        state.hits[request.path] = state.hits.get(request.path, 0) + 1
        if state.healthy:
            return web.json_response({"status": "healthy", "uptime": 42})
        return web.json_response({"status": "degraded"}, status=503)

    app = web.Application()
    app.router.add_get("/health", health)
    with serve_in_thread(app) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


from tests.services import postgres_dsn, redis_url, throwaway_postgres, throwaway_redis  # noqa: E402

__all__ = ["postgres_dsn", "redis_url", "throwaway_postgres", "throwaway_redis"]
