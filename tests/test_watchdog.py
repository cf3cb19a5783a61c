"""The dead-man's switch: pings a local receiver while healthy, never when wedged."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from sentinel.app.daemon import Daemon
from sentinel.app.watchdog import LATENESS_BOUND, Observations, Watchdog, judge
from sentinel.clock import FakeClock
from sentinel.config import load_config, secret_values
from sentinel.config.models import Watchdog as WatchdogConfig
from sentinel.config.settings import Settings
from sentinel.logs import Redactor, configure
from sentinel.metrics import Metrics
from sentinel.probes.results import LatestResults
from tests.conftest import serve_in_thread
from tests.polling import eventually

SECRET_PATH = "/ping/8f1c2e-switch-key"


@dataclass
class Receiver:
    """A push URL that counts GETs and answers what the test says."""

    url: str = ""
    status: int = 200
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    async def ping(request: web.Request) -> web.Response:
        state.hits.append(request.method)
        return web.Response(status=state.status, text="OK")

    app = web.Application()
    app.router.add_route("*", SECRET_PATH, ping)
    with serve_in_thread(app) as port:
        state.url = f"http://127.0.0.1:{port}{SECRET_PATH}"
        yield state


HEALTHY = Observations(scheduler_running=True, last_tick=1000.0, store_failing=False)


def test_judge_is_healthy_only_when_every_part_is() -> None:
    """Scheduler running and ticking within its bound, store writable, lanes alive."""
    now = 1000.0 + LATENESS_BOUND
    assert judge(HEALTHY, now) is None
    assert judge(HEALTHY, now + 1) == f"scheduler stalled: no tick for over {LATENESS_BOUND:g}s"
    stopped = Observations(scheduler_running=False, last_tick=1000.0, store_failing=False)
    assert judge(stopped, now) == "scheduler not running"
    fresh = Observations(scheduler_running=True, last_tick=None, store_failing=False)
    assert judge(fresh, now) == "scheduler has not ticked yet"
    store = Observations(scheduler_running=True, last_tick=1000.0, store_failing=True)
    assert judge(store, now) == "store not writable"
    lanes = Observations(True, 1000.0, False, dead_lanes=("sms", "pager"))
    assert judge(lanes, now) == "notification worker stopped: pager, sms"


@dataclass
class Harness:
    clock: FakeClock
    registry: CollectorRegistry
    logs: io.StringIO
    health: list[Observations]

    def count(self, outcome: str) -> float:
        value = self.registry.get_sample_value(
            "sentinel_watchdog_pings_total", {"outcome": outcome}
        )
        return value or 0.0


@pytest.fixture
async def running(receiver: Receiver) -> AsyncIterator[Harness]:
    """A watchdog every 60 s on the fake clock, pinging the receiver; the test steers
    what it observes through ``health[0]``."""
    clock = FakeClock()
    registry = CollectorRegistry()
    logs = io.StringIO()
    redactor = Redactor()
    redactor.set_secrets({receiver.url})
    configure("info", "json", redactor, logs)
    h = Harness(clock, registry, logs, [HEALTHY])
    settings = WatchdogConfig(url=SecretStr(receiver.url), every=60.0)

    def observe() -> Observations:
        obs = h.health[0]
        # a healthy scheduler keeps ticking with the clock
        if obs.last_tick is not None and obs.scheduler_running and obs is HEALTHY:
            return Observations(True, clock.monotonic(), False)
        return obs

    async with aiohttp.ClientSession() as session:
        dog = Watchdog(
            lambda: settings, observe, clock, session, Metrics(registry, LatestResults(), "t")
        )
        task = asyncio.create_task(dog.run())
        yield h
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    structlog.reset_defaults()


async def test_pings_every_interval_while_healthy(running: Harness, receiver: Receiver) -> None:
    """A GET at start, then one per `every` of the fake clock, none in between."""
    await eventually(lambda: running.count("ok") == 1)
    await running.clock.advance(59)
    await asyncio.sleep(0.2)
    assert receiver.hits == ["GET"]
    await running.clock.advance(1)
    await eventually(lambda: running.count("ok") == 2)
    await running.clock.advance(60)
    await eventually(lambda: running.count("ok") == 3)
    await running.clock.advance(60)
    await eventually(lambda: running.count("ok") == 4)
    assert receiver.hits == ["GET"] * 4


async def test_unhealthy_withholds_the_ping_and_says_why_once(
    running: Harness, receiver: Receiver
) -> None:
    """While the scheduler is stalled no ping goes out (counted as skipped, logged once);
    when it is healthy again pinging resumes."""
    await eventually(lambda: running.count("ok") == 1)
    running.health[0] = Observations(True, running.clock.monotonic(), False)  # stops ticking
    await running.clock.advance(180)
    assert running.count("skipped_unhealthy") == 3
    assert len(receiver.hits) == 1
    running.health[0] = HEALTHY
    await running.clock.advance(60)
    await eventually(lambda: running.count("ok") == 2)
    events = [json.loads(line) for line in running.logs.getvalue().splitlines()]
    withheld = [e for e in events if e["event"] == "watchdog_ping_withheld"]
    assert [e["reason"] for e in withheld] == ["scheduler stalled: no tick for over 5s"]
    assert [e["event"] for e in events][-1] == "watchdog_healthy_again"


async def test_a_failed_ping_is_counted_and_logged_without_the_url(
    running: Harness, receiver: Receiver
) -> None:
    """The receiver answers 503: counted as failed, logged with the status, never the URL."""
    await eventually(lambda: running.count("ok") == 1)
    receiver.status = 503
    await running.clock.advance(60)
    await eventually(lambda: running.count("failed") == 1)
    text = running.logs.getvalue()
    failed = [json.loads(line) for line in text.splitlines()]
    assert failed[-1]["event"] == "watchdog_ping_failed"
    assert failed[-1]["reason"] == "HTTP 503"
    assert "switch-key" not in text


async def test_a_daemon_whose_scheduler_stalls_stops_pinging(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A real daemon on a fake clock pings every 200 ms; its scheduler alone stops (the
    event loop and web server keep running and answering): the pings stop once the
    scheduler's last tick is more than the lateness bound old, and not before; when it
    runs again they resume at the next round. The URL appears in no log line."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        f"""
server: {{listen: "127.0.0.1:0"}}
storage: {{url: "sqlite:{tmp_path}/s.db"}}
watchdog: {{url: "{receiver.url}", every: 200ms}}
"""
    )
    config = load_config(path, {})
    logs = io.StringIO()
    redactor = Redactor()
    redactor.set_secrets(secret_values(config))
    configure("info", "json", redactor, logs)
    clock = FakeClock()
    d = Daemon(config, Settings(config=str(path)), clock, {}, redactor)

    def pings(outcome: str) -> float:
        return (
            d.registry.get_sample_value("sentinel_watchdog_pings_total", {"outcome": outcome}) or 0
        )

    def rounds() -> float:
        return pings("ok") + pings("failed") + pings("skipped_unhealthy")

    async def step() -> None:  # one round of 200 ms, its ping (real HTTP) answered
        before = rounds()
        await clock.advance(0.2)
        await eventually(lambda: rounds() == before + 1)

    await d.start()
    try:
        await eventually(lambda: rounds() == 1)
        for _ in range(3):
            await step()
        assert len(receiver.hits) == pings("ok") == 4
        d.scheduler.pause()  # the scheduler wedges; nothing else does
        paused = clock.monotonic()
        last_tick = paused - (d.scheduler.last_tick_age() or 0.0)
        while pings("skipped_unhealthy") == 0:
            assert clock.monotonic() - last_tick <= LATENESS_BOUND + 0.2
            await step()
        assert clock.monotonic() - last_tick > LATENESS_BOUND
        stopped_at = len(receiver.hits)
        host, port = d.listening[0]
        async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}/health") as r:
            assert r.status == 200
        for _ in range(3):
            await step()
        assert len(receiver.hits) == stopped_at
        assert pings("skipped_unhealthy") == 4
        d.scheduler.resume()
        await step()
        assert len(receiver.hits) == stopped_at + 1
    finally:
        await d.stop()
        structlog.reset_defaults()
    assert "switch-key" not in logs.getvalue()
