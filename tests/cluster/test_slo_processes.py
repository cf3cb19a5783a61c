"""One SLO over checks that two real ``sentinel run`` members share on this run's
PostgreSQL: the member that evaluates it (the one probing its first check) shows the
failed runs of a check the other member probes in ``/api/v1/slos`` and is the one that
pages, once; killed, the other takes the SLO's firing alert over."""

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


async def evaluator_and_other(
    p: Peers, tmp_path: Path, url: str, env: dict[str, str] | None = None
) -> tuple[Member, Member]:
    """m1 and m2, both live; (the member probing the SLO's first check ``a``, the other);
    a check the other probes is made to fail."""
    members = []
    for mid in ("m1", "m2"):
        port = free_port()
        path = tmp_path / f"{mid}.yaml"
        path.write_text(config(p, port, url))
        log = tmp_path / f"{mid}.log"
        environ = {"SENTINEL_MEMBER_ID": mid, **(env or {})}
        members.append(Member(mid, port, Sentinel(path, log, environ), log, environ))
    await start_all(members)

    async def both_live() -> bool:
        return all([await live_ids(m) == ["m1", "m2"] for m in members])

    await eventually(both_live, seconds=60)
    placed = [Placed("m1"), Placed("m2")]
    first = owners(CHECKS[0], placed)[0]
    evaluator = next(m for m in members if m.id == first)
    other = next(m for m in members if m is not evaluator)
    p.target.down.add(next(c for c in CHECKS if owners(c, placed) == [other.id]))
    return evaluator, other


def notices(p: Peers) -> list[str]:
    """The kinds of the notices of the SLO's page-fast alert the webhook took."""
    return [
        str(r.json["kind"])
        for r in p.hook.accepted
        if (r.json.get("alert") or {}).get("rule") == PAIR
    ]


@pytest.mark.timeout(330)
async def test_the_evaluating_member_pages_once_on_another_s_failures_and_hands_over(
    tmp_path: Path, postgres_url: str
) -> None:
    """70 healthy minutes stored (page-fast's hour is covered). A check the member not
    probing ``a`` (the SLO's first check) probes fails outright: that member writes the
    failed runs, the evaluating member reads them (its /api/v1/slos shows them) and
    fires page-fast: one page, escalated by it, none from the other. Before: every
    member judged its own share; the evaluator never saw the failures and the other,
    on its share alone, was the one that paged.

    Then the evaluator is killed: the other is fed ``a``, takes the stored firing
    alert (its firing time, its escalation) and evaluates on: no second page, no
    resolution while the check still fails."""
    await seeded(postgres_url)
    async with peers() as p:
        one, two = await evaluator_and_other(
            p, tmp_path, postgres_url, {"SENTINEL_CLUSTER_LEASE": "6"}
        )
        await eventually(lambda: "firing" in notices(p), seconds=START)
        # The evaluator counts the runs the other probed: its API shows them once its
        # status table is next refreshed (at most a minute after the page, which comes
        # from the counters themselves).

        async def counted() -> bool:
            return await slo_bad(one) > 0

        await eventually(counted, seconds=75)
        fp = fingerprint(PAIR, "both", ())
        assert [e["fingerprint"] for e in one.logged("escalation_started")] == [fp]
        assert fp not in [e["fingerprint"] for e in two.logged("escalation_started")]
        await one.proc.kill()

        async def alone() -> bool:
            return await live_ids(two) == [two.id]

        await eventually(alone, seconds=30)
        await asyncio.sleep(65)  # the survivor evaluates page-fast at least once
        assert notices(p) == ["firing"]
        _, status = await get(two, "/api/v1/status")
        firing = [a for a in status["alerts"] if a["rule"] == PAIR]
        assert [a["state"] for a in firing] == ["firing"]
        # the stored alert, not one of its own: it fired when the first page says
        paged = next(r.json for r in p.hook.accepted if r.json["kind"] == "firing")
        fired = datetime.fromisoformat(firing[0]["fired_at"]).timestamp()
        assert abs(fired - paged["alert"]["since"]) < 0.01
        await two.proc.stop()
