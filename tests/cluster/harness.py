"""Several real ``sentinel run`` processes on one PostgreSQL, and a webhook fake.

Every member runs the same config (its own listen port): one HTTP check on a local
target and a critical rule whose escalation has three steps a few seconds apart,
all to one webhook. The fake stamps each request it accepts, so "each step exactly
once, on time" is a comparison of (kind, step) counts and of arrival times; the
outbox's ``claimed_by`` says which member sent a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.conftest import free_port
from tests.reliability.harness import HOOK_SECRET, TOKEN, Peers, Sentinel, stamps

STEPS = (0.0, 6.0, 12.0)  # seconds after the escalation starts
ON_TIME = 2.0  # a step may arrive this much after it is due
START = 150.0  # seconds a member may take to start on a busy 2-core machine


def config_text(
    p: Peers,
    port: int,
    url: str,
    *,
    interval: float = 0.5,
    extra: str = "",
    steps: Sequence[float] = STEPS,
) -> str:
    steps_text = "\n".join(f"    - {{after: {s:g}s, notify: [hook]}}" for s in steps)
    return f"""
server:
  listen: "127.0.0.1:{port}"
  api_token: "{TOKEN}"
storage:
  url: "{url}"
checks:
  - {{name: api, type: http, url: "{p.target.url}/h/api", interval: {interval}s, timeout: 250ms}}
rules:
  - {{name: ServiceDown, match: {{type: http}}, expr: up == 0, for: 1s, severity: critical}}
channels:
  hook: {{type: webhook, url: "{p.hook.url}/hooks/t", secret: "{HOOK_SECRET}"}}
escalation:
  critical:
{steps_text}
  repeat_every: 1h
notifications: {{retry_initial: 100ms, retry_max: 400ms, timeout: 2s, storm: {{threshold: 1000}}}}
{extra}"""


@dataclass
class Member:
    id: str
    port: int
    proc: Sentinel
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logged(self, event: str) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if f'"{event}"' in line:
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out


def member(
    p: Peers,
    tmp: Path,
    mid: str,
    url: str,
    env: dict[str, str] | None = None,
    *,
    extra: str = "",
    steps: Sequence[float] = STEPS,
) -> Member:
    """A member (not started); ``extra``: more top-level config (e.g. ``sources:``);
    ``steps``: the critical policy's steps (seconds after the escalation starts)."""
    port = free_port()
    config = tmp / f"{mid}.yaml"
    config.write_text(config_text(p, port, url, extra=extra, steps=steps))
    log = tmp / f"{mid}.log"
    environ = {"SENTINEL_MEMBER_ID": mid, **(env or {})}
    return Member(mid, port, Sentinel(config, log, environ), log, environ)


async def start_all(members: list[Member]) -> None:
    for m in members:
        await m.proc.start()
    await asyncio.gather(*(m.proc.ready(m.port, START) for m in members))


async def get(m: Member, path: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(m.base + path, headers={"Authorization": f"Bearer {TOKEN}"}) as resp,
    ):
        return resp.status, await resp.json()


async def post(m: Member, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(m.base + path, json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as resp,
    ):
        return resp.status, await resp.json()


async def live_ids(m: Member) -> list[str]:
    try:
        _, body = await get(m, "/api/v1/cluster")
    except aiohttp.ClientError:
        return []
    return sorted(x["id"] for x in body["members"] if x["live"])


async def outbox(url: str) -> list[dict[str, Any]]:
    """The outbox rows with their claim: (kind, step, state, claimed_by)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT notice, state, claimed_by FROM outbox ORDER BY id")
    finally:
        await conn.close()
    out = []
    for r in rows:
        notice = json.loads(r["notice"])
        out.append(
            {
                "kind": notice["kind"],
                "step": notice.get("step", 0),
                "state": r["state"],
                "claimed_by": r["claimed_by"],
            }
        )
    return out


def _key(body: dict[str, Any]) -> tuple[str, int]:
    kind = str(body["kind"])
    return kind, int(body.get("step", 0)) if kind in ("firing", "escalation") else 0


def received(p: Peers) -> Counter[tuple[str, int]]:
    """(kind, step) of every webhook request the fake accepted (step 0 for a resolution)."""
    return Counter(_key(r.json) for r in p.hook.accepted)


def arrivals(p: Peers) -> dict[tuple[str, int], float]:
    """When each (kind, step) first arrived (unix time, the test's clock)."""
    out: dict[tuple[str, int], float] = {}
    for rec, at in zip(p.hook.accepted, stamps(p.hook), strict=True):
        out.setdefault(_key(rec.json), at)
    return out


EXPECTED = Counter(
    {("firing", 0): 1, ("escalation", 1): 1, ("escalation", 2): 1, ("resolved", 0): 1}
)


def on_time(p: Peers) -> list[float]:
    """How late each escalation step arrived, against the first page's arrival."""
    at = arrivals(p)
    first = at[("firing", 0)]
    return [at[("escalation", n)] - first - STEPS[n] for n in (1, 2)]
