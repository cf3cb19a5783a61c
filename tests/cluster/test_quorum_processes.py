"""Confirmation from two locations with real processes: two ``sentinel run`` members on
this run's PostgreSQL, one in location eu probing from 127.0.0.2 and one in us from
127.0.0.3, one local target that answers each source address as the test says, and a
webhook fake that counts pages.

- eu sees the target down, us sees it up: no page, and each view shows on the API;
- both see it down: exactly one page;
- us stopped: its view turns unknown and eu alone decides (``quorum_missing: lower``):
  the target answering eu again resolves the alert.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import free_port, serve_here
from tests.notify.fakes import Receiver
from tests.polling import eventually
from tests.reliability.harness import HOOK_SECRET, TOKEN, Sentinel, reap
from tests.services import postgres_database, postgres_url

__all__ = ["postgres_database", "postgres_url"]

START = 150.0  # seconds a member may take to start on a busy 2-core machine
EU, US = "127.0.0.2", "127.0.0.3"


@pytest.fixture(autouse=True)
def _reap_processes() -> Iterator[None]:
    yield
    reap()


class Target:
    """Answers 500 to the source addresses in ``down``, 200 to the others."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.seen: dict[str, int] = {}
        self.url = ""

    async def health(self, request: web.Request) -> web.Response:
        peer = request.remote or ""
        self.seen[peer] = self.seen.get(peer, 0) + 1
        return web.Response(status=500 if peer in self.down else 200)


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    t = Target()
    app = web.Application()
    app.router.add_get("/health", t.health)
    async with serve_here(app) as port:
        t.url = f"http://127.0.0.1:{port}/health"
        yield t


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with Receiver(HOOK_SECRET) as fake:
        yield fake


def config_text(port: int, url: str, target: str, hook: str) -> str:
    return f"""
server:
  listen: "127.0.0.1:{port}"
  api_token: "{TOKEN}"
storage:
  url: "{url}"
checks:
  - name: shop
    type: http
    url: "{target}"
    interval: 1s
    timeout: 500ms
    locations: [eu, us]
    quorum: 2
rules:
  - {{name: ShopDown, match: {{check: shop}}, expr: up == 0, for: 2s, severity: critical}}
channels:
  hook: {{type: webhook, url: "{hook}/hooks/t", secret: "{HOOK_SECRET}"}}
escalation:
  critical:
    - {{after: 0s, notify: [hook]}}
  repeat_every: 1h
notifications: {{retry_initial: 100ms, retry_max: 400ms, timeout: 2s}}
"""


async def api(port: int, path: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as resp,
    ):
        body: dict[str, Any] = await resp.json()
        return body


async def views(port: int) -> dict[str, str]:
    """place -> state, as the member's API shows the check's locations."""
    try:
        body = await api(port, "/api/v1/checks/shop")
    except aiohttp.ClientError:
        return {}
    return {v["place"]: v["state"] for v in body.get("locations", [])}


def pages(hook: Receiver) -> list[str]:
    return [str(r.json["kind"]) for r in hook.accepted]


async def test_two_locations_confirm_before_paging(
    tmp_path: Path, postgres_url: str, target: Target, hook: Receiver
) -> None:
    """One location down: no page; both: one page; one silent: unknown, the other decides."""
    members = {}
    for name, source in (("eu", EU), ("us", US)):
        port = free_port()
        config = tmp_path / f"{name}.yaml"
        config.write_text(config_text(port, postgres_url, target.url, hook.url))
        env = {
            "SENTINEL_MEMBER_ID": f"{name}-1",
            "SENTINEL_LOCATION": name,
            "SENTINEL_PROBE_SOURCE_ADDRESS": source,
            "SENTINEL_CLUSTER_LEASE": "6",
        }
        members[name] = (Sentinel(config, tmp_path / f"{name}.log", env), port)
    for proc, _ in members.values():
        await proc.start()
    try:
        await run_timeline(members, target, hook)
    finally:
        for proc, _ in members.values():
            if proc.proc is not None and proc.proc.returncode is None:
                await proc.kill()


async def run_timeline(
    members: dict[str, tuple[Sentinel, int]], target: Target, hook: Receiver
) -> None:
    await asyncio.gather(*(proc.ready(port, START) for proc, port in members.values()))
    eu_port = members["eu"][1]

    # eu's path is bad: eu sees 500, us sees 200. Each place's view shows; nobody is paged.
    target.down = {EU}

    async def split() -> bool:
        return await views(eu_port) == {"eu": "down", "us": "up"}

    await eventually(split, 60)
    await asyncio.sleep(5)  # longer than the rule's `for`: a page would have come
    assert pages(hook) == []
    assert target.seen.get(EU, 0) > 0
    assert target.seen.get(US, 0) > 0

    # Down from both: exactly one page.
    target.down = {EU, US}
    await eventually(lambda: pages(hook) == ["firing"], 60)
    await asyncio.sleep(4)
    assert pages(hook) == ["firing"]

    # us stops: its view turns unknown, and eu alone decides (quorum lowered).
    await members["us"][0].stop()

    async def us_unknown() -> bool:
        return (await views(eu_port)).get("us") == "unknown"

    await eventually(us_unknown, 60)
    target.down = set()
    await eventually(lambda: pages(hook) == ["firing", "resolved"], 60)

    async def eu_alone_up() -> bool:  # the views shown are read every few seconds
        return await views(eu_port) == {"eu": "up", "us": "unknown"}

    await eventually(eu_alone_up, 30)
    await members["eu"][0].stop()
    assert pages(hook) == ["firing", "resolved"]
