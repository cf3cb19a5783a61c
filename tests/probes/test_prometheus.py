"""Prometheus probe against a local target exposing real prometheus-client output."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any, get_args

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from sentinel.config.checks import Check, PrometheusCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.body import Stopped
from sentinel.probes.prometheus import PrometheusProbe, select_samples
from sentinel.probes.registry import registry
from sentinel.probes.results import Outcome
from tests.probes.conftest import sample_values


def exposition() -> bytes:
    reg = CollectorRegistry()
    requests = Counter("http_requests", "Requests.", ["code"], registry=reg)
    requests.labels("200").inc(990)
    requests.labels("500").inc(10)
    Gauge("process_resident_memory_bytes", "RSS.", registry=reg).set(123456789)
    Gauge("queue_depth", "Depth.", registry=reg).set(7)
    Gauge("up", "A target's own 'up'.", registry=reg).set(1)
    return generate_latest(reg)


@pytest.fixture
async def target() -> AsyncIterator[str]:
    never = asyncio.Event()

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=exposition(), content_type="text/plain")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(text="this is { not the format\n", content_type="text/plain")

    async def failing(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def slow(_: web.Request) -> web.Response:
        await never.wait()
        return web.Response(text="")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/broken", broken)
    app.router.add_get("/failing", failing)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def scrape(ctx: ProbeContext, url: str, **options: Any) -> Outcome:
    check = PrometheusCheck.model_validate(
        {"type": "prometheus", "name": "app", "url": url, **options}
    )
    return await PrometheusProbe(check, ctx).run()


async def test_keeps_named_and_matched_series_with_counter_totals(
    ctx: ProbeContext, target: str
) -> None:
    """Names and regexes select families; counters keep their raw totals for rate()."""
    outcome = await scrape(ctx, f"{target}/metrics", metrics=["http_requests_total", "process_.*"])
    assert outcome.ok, outcome.error
    got = sample_values(outcome)
    assert got["http_requests_total{code=200}"] == 990
    assert got["http_requests_total{code=500}"] == 10
    assert got["process_resident_memory_bytes"] == 123456789
    assert "queue_depth" not in got
    assert got["scraped_series"] >= 6


async def test_everything_kept_without_a_selection(ctx: ProbeContext, target: str) -> None:
    """With no metrics: list, every series is kept; a target's own 'up' is renamed."""
    got = sample_values(await scrape(ctx, f"{target}/metrics"))
    assert got["queue_depth"] == 7
    assert got["target_up"] == 1


async def test_bad_answers(ctx: ProbeContext, target: str) -> None:
    """A 500, a body that is not the exposition format, and a hung target each fail clearly."""
    assert (await scrape(ctx, f"{target}/failing")).error == "status 500 not in [200]"
    assert (await scrape(ctx, f"{target}/broken")).error == "invalid metrics format"
    slow = await scrape(ctx, f"{target}/slow", timeout="200ms", interval="1s")
    assert slow.error == "timeout after 200ms"


def test_registry_covers_every_check_type() -> None:
    """Every check type the config accepts has a probe, and no probe lacks a config type."""
    union = get_args(get_args(Check)[0])
    config_types = {get_args(model.model_fields["type"].annotation)[0] for model in union}
    assert config_types == set(registry())


def test_a_parse_in_a_worker_thread_stops_once_nobody_waits() -> None:
    """Parsing a large scrape off the loop checks its stop flag: once the run is cancelled
    (its timeout), the thread stops instead of burning a core to the end of the text."""
    text = "".join(f'requests_total{{path="/p{i}"}} {i}\n' for i in range(20_000))
    stop = threading.Event()
    kept, total = select_samples(text, [], stop)
    assert (len(kept), total) == (20_000, 20_000)
    stop.set()
    with pytest.raises(Stopped):
        select_samples(text, [], stop)
