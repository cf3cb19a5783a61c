"""Two real members on one PostgreSQL behind a (pretend) load balancer: Alertmanager's
notifications about one alert reach either member, and every rule of issue 17 holds
as for one process (docs/sources.md, "Several replicas"): an alert fired through one
member and resolved through the other pages once and is resolved once; the same
firing sent to both (Alertmanager in HA) pages once; a late copy of a resolved firing
fires nothing on the member that never saw the resolve; each member shows when the
source last spoke to either."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.cluster.harness import Member, get, live_ids, member, start_all
from tests.polling import eventually
from tests.reliability.harness import Peers, peers

AM_TOKEN = "am-cluster-token-5d4c3b2a"
SOURCES = f"""
sources:
  - name: prom
    type: alertmanager
    token: "{AM_TOKEN}"
"""
STARTS = datetime.now(UTC).replace(microsecond=0).isoformat()  # when the episodes began


def am_alert(name: str, status: str, *, ends: str = "") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "critical", "instance": f"{name}-1"},
        "annotations": {"summary": f"{name} is down"},
        "startsAt": STARTS,
        "endsAt": ends,
        "fingerprint": f"fp-{name}",
    }


async def notify(m: Member, *alerts: dict[str, Any]) -> dict[str, Any]:
    body = {"version": "4", "status": alerts[0]["status"], "receiver": "sentinel", "alerts": alerts}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{m.base}/api/v1/sources/alertmanager/prom",
            json=body,
            headers={"Authorization": f"Bearer {AM_TOKEN}"},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


def pages(p: Peers) -> Counter[tuple[str, str]]:
    """(kind, alertname) of the first pages and resolutions the webhook fake took."""
    out: Counter[tuple[str, str]] = Counter()
    for rec in p.hook.accepted:
        kind = rec.json["kind"]
        if kind in ("firing", "resolved"):
            out[kind, rec.json["alert"]["rule"]] += 1
    return out


async def last_spoke(m: Member) -> str | None:
    _, body = await get(m, "/api/v1/sources")
    (prom,) = body["sources"]
    spoke: str | None = prom["last_spoke"]
    return spoke


async def test_a_source_reaching_either_member_pages_once_and_resolves_once(
    postgres_url: str, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    env = {"SENTINEL_CLUSTER_LEASE": "6"}
    async with peers() as p:
        a = member(p, tmp_path, f"a{tag}", postgres_url, env, extra=SOURCES)
        b = member(p, tmp_path, f"b{tag}", postgres_url, env, extra=SOURCES)
        try:
            await start_all([a, b])
            await eventually(lambda: _all_live(a, 2), 30)
            await eventually(lambda: _all_live(b, 2), 30)
            # Moved: fired through a only. Twin: Alertmanager in HA, sent to both at once.
            assert (await notify(a, am_alert("Moved", "firing")))["alerts"] == {"fired": 1}
            twin = am_alert("Twin", "firing")
            await asyncio.gather(notify(a, twin), notify(b, twin))
            await eventually(lambda: pages(p)[("firing", "Moved")] == 1, 30)
            await eventually(lambda: pages(p)[("firing", "Twin")] == 1, 30)
            # the twin's repeat reaches b, which knows it now: a repeat, no page
            assert (await notify(b, twin))["alerts"] == {"repeated": 1}

            ended = datetime.now(UTC).isoformat()
            # resolved through the member that never saw the firing
            answer = await notify(b, am_alert("Moved", "resolved", ends=ended))
            assert answer["alerts"] == {"resolved": 1}
            await notify(a, am_alert("Twin", "resolved", ends=ended))
            await eventually(lambda: pages(p)[("resolved", "Moved")] == 1, 40)
            await eventually(lambda: pages(p)[("resolved", "Twin")] == 1, 40)
            # a late copy of the resolved firing, to the member that never saw the resolve
            assert (await notify(a, am_alert("Moved", "firing")))["alerts"] == {"stale": 1}
            await asyncio.sleep(3)  # anything sent twice would arrive by now
            assert pages(p) == Counter(
                {
                    ("firing", "Moved"): 1,
                    ("resolved", "Moved"): 1,
                    ("firing", "Twin"): 1,
                    ("resolved", "Twin"): 1,
                }
            ), p.hook.accepted
            # the source last spoke to a; b shows it too (read from the store)
            spoke = await last_spoke(a)
            assert spoke is not None
            await eventually(lambda: _spoke(b, spoke), 30)
            for m in (a, b):
                _, alerts = await get(m, "/api/v1/alerts")
                assert alerts["items"] == [], (m.id, alerts)
        finally:
            for m in (a, b):
                if m.proc.proc is not None and m.proc.proc.returncode is None:
                    await m.proc.stop()


async def test_a_source_is_told_to_retry_while_the_shared_store_cannot_be_read(
    postgres_url: str, tmp_path: Path
) -> None:
    """A member reads the shared state of a request's alerts before deciding: with that
    read failing (the keys table gone for a moment), Alertmanager and an Events sender
    get 503 with Retry-After (they retry), never a 500, and nothing is decided; the
    same notification once the store answers again pages once."""
    tag = secrets.token_hex(3)
    a = None
    async with peers() as p:
        extra = SOURCES + f'  - {{name: ev, type: events, routing_key: "{EV_KEY}"}}\n'
        a = member(
            p, tmp_path, f"a{tag}", postgres_url, {"SENTINEL_CLUSTER_LEASE": "6"}, extra=extra
        )
        conn = await asyncpg.connect(postgres_url.split("?")[0])
        schema = postgres_url.split("search_path=")[1]
        try:
            await start_all([a])
            await eventually(lambda: _all_live(a, 1), 30)
            await conn.execute(f'ALTER TABLE "{schema}".keys RENAME TO keys_away')
            status, headers, body = await post_raw(a, am_alert("Held", "firing"))
            assert status == 503, (status, body)
            assert headers.get("Retry-After") == "5"
            status, headers, body = await send_event(a)
            assert status == 503, (status, body)
            assert headers.get("Retry-After") == "5"
            await asyncio.sleep(2)
            assert pages(p) == Counter(), p.hook.accepted  # nothing decided
            await conn.execute(f'ALTER TABLE "{schema}".keys_away RENAME TO keys')
            assert (await notify(a, am_alert("Held", "firing")))["alerts"] == {"fired": 1}
            await eventually(lambda: pages(p)[("firing", "Held")] == 1, 30)
            status, _, _ = await send_event(a)
            assert status == 202
            assert "Traceback" not in a.log.read_text()
        finally:
            await conn.close()
            if a.proc.proc is not None and a.proc.proc.returncode is None:
                await a.proc.stop()


EV_KEY = "0123456789abcdef0123456789abcdef"


async def post_raw(m: Member, alert: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    body = {"version": "4", "status": alert["status"], "receiver": "sentinel", "alerts": [alert]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{m.base}/api/v1/sources/alertmanager/prom",
            json=body,
            headers={"Authorization": f"Bearer {AM_TOKEN}"},
        ) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.text()


async def send_event(m: Member) -> tuple[int, dict[str, str], str]:
    event = {
        "routing_key": EV_KEY,
        "event_action": "trigger",
        "dedup_key": "disk-full",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"},
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{m.base}/api/v1/sources/events/ev/v2/enqueue", json=event) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.text()


async def _all_live(m: Member, n: int) -> bool:
    return len(await live_ids(m)) == n


async def _spoke(m: Member, at: str) -> bool:
    return await last_spoke(m) == at
