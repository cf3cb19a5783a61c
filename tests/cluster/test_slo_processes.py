"""One SLO over checks that two real ``sentinel run`` members share on this run's
PostgreSQL: the member that does not probe the failing check (the leader) shows its
failed runs in ``/api/v1/slos`` and is the one that pages, once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
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


async def seeded(url: str) -> None:
    """70 healthy minutes of the SLO in the store: page-fast's hour is covered."""
    store = open_store(url)
    await store.open()
    now = int(time.time() // 60)
    await store.save_slo_minutes([("both", m, 6, 6) for m in range(now - 70, now)])
    await store.close()


async def leader_and_other(
    p: Peers, tmp_path: Path, url: str, env: dict[str, str] | None = None
) -> tuple[Member, Member]:
    """m1 started first (it takes the leader lock), then m2; both see both live; the
    check m2 probes is made to fail."""
    members = []
    for mid in ("m1", "m2"):
        port = free_port()
        path = tmp_path / f"{mid}.yaml"
        path.write_text(config(p, port, url))
        log = tmp_path / f"{mid}.log"
        environ = {"SENTINEL_MEMBER_ID": mid, **(env or {})}
        members.append(Member(mid, port, Sentinel(path, log, environ), log, environ))
        await start_all(members[-1:])
    m1, m2 = members

    async def both_live() -> bool:
        return await live_ids(m1) == ["m1", "m2"] == await live_ids(m2)

    await eventually(both_live, seconds=60)
    _, cluster = await get(m1, "/api/v1/cluster")
    assert cluster["leader"] == "m1"
    failing = next(c for c in CHECKS if owners(c, [Placed("m1"), Placed("m2")]) == ["m2"])
    p.target.down.add(failing)
    return m1, m2


def notices(p: Peers) -> list[str]:
    """The kinds of the notices of the SLO's page-fast alert the webhook took."""
    return [
        str(r.json["kind"])
        for r in p.hook.accepted
        if (r.json.get("alert") or {}).get("rule") == PAIR
    ]


@pytest.mark.timeout(330)
async def test_the_leader_pages_once_on_failures_another_member_counts_and_hands_over(
    tmp_path: Path, postgres_url: str
) -> None:
    """70 healthy minutes stored (page-fast's hour is covered); m1 starts first and
    leads. A check m2 probes fails outright: m2 writes the failed runs, m1 reads them
    (its /api/v1/slos shows them) and fires page-fast: one page, escalated by m1, none
    from m2. Before: m1 never saw the failures (its status showed none) and m2, judging
    its own share alone, was the one that paged.

    Then m1 is killed: m2 becomes the leader, takes the stored firing alert (its firing
    time, its escalation) and evaluates on: no second page, no resolution while the
    check still fails."""
    await seeded(postgres_url)
    async with peers() as p:
        m1, m2 = await leader_and_other(p, tmp_path, postgres_url, {"SENTINEL_CLUSTER_LEASE": "6"})
        await eventually(lambda: "firing" in notices(p), seconds=START)
        assert await slo_bad(m1) > 0  # the leader counts the runs m2 probed
        fp = fingerprint(PAIR, "both", ())
        assert [e["fingerprint"] for e in m1.logged("escalation_started")] == [fp]
        assert fp not in [e["fingerprint"] for e in m2.logged("escalation_started")]
        await m1.proc.kill()

        async def m2_leads() -> bool:
            _, body = await get(m2, "/api/v1/cluster")
            return bool(body["leader"] == "m2")

        await eventually(m2_leads, seconds=30)
        await asyncio.sleep(65)  # m2 evaluates page-fast at least once more
        assert notices(p) == ["firing"]
        _, status = await get(m2, "/api/v1/status")
        firing = [a for a in status["alerts"] if a["rule"] == PAIR]
        assert [a["state"] for a in firing] == ["firing"]
        # the stored alert, not one of m2's own: it fired when m1's page says
        paged = next(r.json for r in p.hook.accepted if r.json["kind"] == "firing")
        fired = datetime.fromisoformat(firing[0]["fired_at"]).timestamp()
        assert abs(fired - paged["alert"]["since"]) < 0.01
        await m2.proc.stop()
