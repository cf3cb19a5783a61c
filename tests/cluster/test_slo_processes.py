"""One SLO over checks that two real ``sentinel run`` members share on this run's
PostgreSQL: the member that does not probe the failing check (the leader) shows its
failed runs in ``/api/v1/slos`` and is the one that pages, once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from sentinel.cluster.ownership import owners
from sentinel.rules.engine import fingerprint
from sentinel.store import open_store
from tests.cluster.harness import START, Member, get, live_ids, start_all
from tests.conftest import free_port
from tests.polling import eventually
from tests.reliability.harness import HOOK_SECRET, TOKEN, Peers, Sentinel, peers

CHECKS = ("a", "b", "c", "d", "e", "f")
PAIR = "SLO:both:page-fast"


@dataclass(frozen=True)
class Placed:
    id: str
    location: str = "default"


def config(p: Peers, port: int, url: str) -> str:
    checks = "\n".join(
        f'  - {{name: {c}, type: http, url: "{p.target.url}/h/{c}", interval: 1s, timeout: 500ms}}'
        for c in CHECKS
    )
    return f"""
server:
  listen: "127.0.0.1:{port}"
  api_token: "{TOKEN}"
storage:
  url: "{url}"
checks:
{checks}
slos:
  - {{name: both, match: {{type: http}}, objective: 99.9%}}
channels:
  hook: {{type: webhook, url: "{p.hook.url}/hooks/t", secret: "{HOOK_SECRET}"}}
escalation:
  critical:
    - {{after: 0s, notify: [hook]}}
notifications: {{retry_initial: 100ms, retry_max: 400ms, timeout: 2s}}
"""


async def slo_bad(m: Member) -> int:
    _, body = await get(m, "/api/v1/slos")
    slo = next(s for s in body["slos"] if s["name"] == "both")
    return int(slo["total"]) - int(slo["good"])


@pytest.mark.timeout(330)
async def test_the_leader_pages_once_on_the_failures_another_member_counts(
    tmp_path: Path, postgres_url: str
) -> None:
    """70 healthy minutes stored (page-fast's hour is covered); m1 starts first and
    leads. A check m2 probes fails outright: m2 writes the failed runs, m1 reads them
    (its /api/v1/slos shows them) and fires page-fast: one page, escalated by m1, none
    from m2. Before: m1 never saw the failures (its status showed none) and m2, judging
    its own share alone, was the one that paged."""
    store = open_store(postgres_url)
    await store.open()
    now = int(time.time() // 60)
    await store.save_slo_minutes([("both", m, 60, 60) for m in range(now - 70, now)])
    await store.close()
    async with peers() as p:
        members = []
        for mid in ("m1", "m2"):
            port = free_port()
            path = tmp_path / f"{mid}.yaml"
            path.write_text(config(p, port, postgres_url))
            log = tmp_path / f"{mid}.log"
            env = {"SENTINEL_MEMBER_ID": mid}
            members.append(Member(mid, port, Sentinel(path, log, env), log, env))
            await start_all(members[-1:])  # m1 first: it takes the leader lock
        m1, m2 = members

        async def both_live() -> bool:
            return await live_ids(m1) == ["m1", "m2"] == await live_ids(m2)

        await eventually(both_live, seconds=60)
        _, cluster = await get(m1, "/api/v1/cluster")
        assert cluster["leader"] == "m1"
        failing = next(c for c in CHECKS if owners(c, [Placed("m1"), Placed("m2")]) == ["m2"])
        p.target.down.add(failing)

        def fired() -> list[str]:
            return [
                str(r.json["kind"])
                for r in p.hook.accepted
                if (r.json.get("alert") or {}).get("rule") == PAIR
            ]

        async def paged() -> bool:
            return "firing" in fired()

        await eventually(paged, seconds=START)
        assert await slo_bad(m1) > 0  # the leader counts the runs m2 probed
        await asyncio.sleep(5)
        assert fired() == ["firing"]
        fp = fingerprint(PAIR, "both", ())
        assert [e["fingerprint"] for e in m1.logged("escalation_started")] == [fp]
        assert fp not in [e["fingerprint"] for e in m2.logged("escalation_started")]
        for m in members:
            await m.proc.stop()
