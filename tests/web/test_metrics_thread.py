"""/metrics renders in a worker thread; what the loop changes meanwhile cannot break it."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from sentinel.app.daemon import Daemon
from sentinel.clock import FakeClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from sentinel.probes.results import Result
from sentinel.web.app import create_app

CONFIG = """
server: {listen: "127.0.0.1:0"}
storage: {url: "sqlite::memory:"}
checks:
  - {name: db, type: tcp, target: "127.0.0.1:9", interval: 1m}
"""


async def test_the_loop_changing_alerts_during_a_render_breaks_nothing(tmp_path: Path) -> None:
    """The render thread reads a copy taken on the loop: the live alerts (a dict the loop
    changes, as the rule engine's are) are never iterated off the loop, so a change in
    the middle of a scrape cannot raise "dictionary changed size during iteration"."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(CONFIG)
    daemon = Daemon(load_config(path, {}), Settings(config=str(path)), FakeClock(), {}, Redactor())
    live: dict[str, tuple[str, str]] = {"fp1": ("firing", "critical")}
    loop_thread = threading.get_ident()
    paused, resume = threading.Event(), threading.Event()

    def counts() -> list[tuple[str, str]]:
        out = []
        for value in live.values():
            out.append(value)
            if threading.get_ident() != loop_thread:  # off the loop: let the loop run now
                paused.set()
                resume.wait(5)
        return out

    daemon.metrics.watch_alerts(counts)
    app = create_app(daemon.facade, daemon.metrics)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        scrape = asyncio.ensure_future(http.get(server.make_url("/metrics")))
        reached = asyncio.ensure_future(asyncio.to_thread(paused.wait, 5))
        await asyncio.wait({scrape, reached}, return_when=asyncio.FIRST_COMPLETED)
        live["fp2"] = ("pending", "high")  # the loop moves on while a render may run
        resume.set()
        paused.set()  # lets the waiting thread go when the render never paused
        await reached
        async with await scrape as resp:
            text = await resp.text()
    assert resp.status == 200, text
    assert 'sentinel_alerts{severity="critical",state="firing"} 1.0' in text
    assert 'sentinel_alerts{severity="high",state="pending"} 0.0' in text  # the copy's moment


async def test_a_scraper_that_leaves_mid_page_is_no_error(tmp_path: Path) -> None:
    """The page is sent a piece at a time: a scraper that closes the connection after
    the first bytes (its scrape timeout) ends the answer quietly, logs no failure, and
    the next scrape is whole."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(CONFIG)
    daemon = Daemon(load_config(path, {}), Settings(config=str(path)), FakeClock(), {}, Redactor())
    for i in range(3000):
        daemon.latest.record(
            Result(f"c{i:04d}", "tcp", True, datetime(2026, 3, 1, tzinfo=UTC), 0.1, None, ())
        )
    app = create_app(daemon.facade, daemon.metrics)
    async with TestServer(app, host="127.0.0.1") as server:
        with capture_logs() as logs:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert (await reader.read(100)).startswith(b"HTTP/1.1 200")
            writer.transport.abort()  # a reset, not a polite close
            await writer.wait_closed()
            async with (
                aiohttp.ClientSession() as http,
                http.get(server.make_url("/metrics")) as resp,
            ):
                text = await resp.text()
    assert resp.status == 200
    assert text.count("sentinel_check_up{") == 3000
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
