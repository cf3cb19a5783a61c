"""Checks shared across real members while they join and leave: three ``sentinel run``
processes on this run's PostgreSQL, each probing from its own loopback address
(127.0.0.2-4) so the target can tell who probed what.

In each steady phase (three members, two after a ``kill -9``, three after a new one
joins) every check is probed, none twice in one interval, by the member that owns it,
and the members' shares stay within 20% of even; the share of a killed member is
taken over within max(2 intervals, 30 s).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import free_port, serve_here
from tests.polling import eventually
from tests.reliability.harness import TOKEN, Sentinel, reap
from tests.services import postgres_database, postgres_url

__all__ = ["postgres_database", "postgres_url"]

START = 150.0
CHECKS = 300
INTERVAL = 3.0
WINDOW = 4 * INTERVAL  # seconds of probes each steady phase is judged on
SOURCES = {"m-a": "127.0.0.2", "m-b": "127.0.0.3", "m-c": "127.0.0.4", "m-d": "127.0.0.5"}


@pytest.fixture(autouse=True)
def _reap_processes() -> Iterator[None]:
    yield
    reap()


class Target:
    """Answers 200 and records (when, source address, check) of every probe."""

    def __init__(self) -> None:
        self.probes: list[tuple[float, str, str]] = []
        self.url = ""

    async def health(self, request: web.Request) -> web.Response:
        self.probes.append((time.monotonic(), request.remote or "", request.match_info["name"]))
        return web.Response(text="ok")

    def since(self, start: float) -> list[tuple[float, str, str]]:
        return [p for p in self.probes if p[0] >= start]


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    t = Target()
    app = web.Application()
    app.router.add_get("/h/{name}", t.health)
    async with serve_here(app) as port:
        t.url = f"http://127.0.0.1:{port}/h"
        yield t


def config_text(port: int, url: str, target: str) -> str:
    checks = "\n".join(
        f'  - {{name: c{i:03d}, type: http, url: "{target}/c{i:03d}", '
        f"interval: {INTERVAL:g}s, timeout: 1s}}"
        for i in range(CHECKS)
    )
    return f"""
server:
  listen: "127.0.0.1:{port}"
  api_token: "{TOKEN}"
storage:
  url: "{url}"
checks:
{checks}
"""


def member(tmp: Path, mid: str, url: str, target: Target) -> tuple[Sentinel, int]:
    port = free_port()
    config = tmp / f"{mid}.yaml"
    config.write_text(config_text(port, url, target.url))
    env = {
        "SENTINEL_MEMBER_ID": mid,
        "SENTINEL_PROBE_SOURCE_ADDRESS": SOURCES[mid],
        "SENTINEL_CLUSTER_LEASE": "6",
    }
    return Sentinel(config, tmp / f"{mid}.log", env), port


def judge(probes: list[tuple[float, str, str]], members: list[str]) -> Counter[str]:
    """Every check probed by exactly one member and at most once per interval; returns
    the checks each member probed."""
    by_check: dict[str, set[str]] = {}
    runs: Counter[str] = Counter()
    for _, source, check in probes:
        by_check.setdefault(check, set()).add(source)
        runs[check] += 1
    assert len(by_check) == CHECKS, f"unprobed: {CHECKS - len(by_check)} checks"
    shared = {c: s for c, s in by_check.items() if len(s) > 1}
    assert not shared, f"probed by several members: {list(shared.items())[:5]}"
    most = WINDOW / INTERVAL + 1  # a window of 4 intervals holds at most 5 due runs
    assert max(runs.values()) <= most
    assert min(runs.values()) >= WINDOW / INTERVAL - 1
    owned = Counter(next(iter(s)) for s in by_check.values())
    assert set(owned) == {SOURCES[m] for m in members}
    return owned


def balanced(owned: Counter[str]) -> bool:
    even = CHECKS / len(owned)
    return all(abs(n - even) <= 0.2 * even for n in owned.values())


async def steady(target: Target, members: list[str], settle: float) -> Counter[str]:
    """Wait until only ``members`` probe (bounded by ``settle``), then judge a window."""
    sources = {SOURCES[m] for m in members}

    def only_them() -> bool:
        recent = target.since(time.monotonic() - 2 * INTERVAL)
        return bool(recent) and {s for _, s, _ in recent} == sources

    await eventually(only_them, settle)
    await asyncio.sleep(INTERVAL)  # the last runs of a member that left are over
    start = time.monotonic()
    await asyncio.sleep(WINDOW)
    return judge([p for p in target.since(start) if p[0] < start + WINDOW], members)


async def test_members_join_and_leave_and_every_check_keeps_being_probed(
    tmp_path: Path, postgres_url: str, target: Target
) -> None:
    """Three members share 300 checks; one is killed, the two left cover all within
    30 s; a new one joins and takes its share; always balanced within 20%."""
    procs = {m: member(tmp_path, m, postgres_url, target) for m in ("m-a", "m-b", "m-c")}
    try:
        for proc, _ in procs.values():
            await proc.start()
        await asyncio.gather(*(p.ready(port, START) for p, port in procs.values()))

        owned = await steady(target, ["m-a", "m-b", "m-c"], 60)
        assert balanced(owned), owned

        await procs["m-c"][0].kill()
        killed = time.monotonic()
        a, b = SOURCES["m-a"], SOURCES["m-b"]

        def taken_over() -> bool:
            recent = target.since(time.monotonic() - INTERVAL - 0.5)
            return len({c for _, s, c in recent if s in (a, b)}) == CHECKS

        await eventually(taken_over, max(2 * INTERVAL, 30.0) + 5)
        assert time.monotonic() - killed <= max(2 * INTERVAL, 30.0) + INTERVAL
        owned = await steady(target, ["m-a", "m-b"], 30)
        assert balanced(owned), owned

        procs["m-d"] = member(tmp_path, "m-d", postgres_url, target)
        await procs["m-d"][0].start()
        await procs["m-d"][0].ready(procs["m-d"][1], START)
        owned = await steady(target, ["m-a", "m-b", "m-d"], 60)
        assert balanced(owned), owned
    finally:
        for proc, _ in procs.values():
            if proc.proc is not None and proc.proc.returncode is None:
                await proc.kill()
