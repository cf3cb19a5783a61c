"""Review of ``GET /api/v1/cluster`` on a cluster member, as an attacker who reaches the
port would try it: one member in this process on this run's PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from sentinel.app.daemon import Daemon
from tests.cluster.test_review_sources import member
from tests.web.test_page import base_url

__all__ = ["member"]


async def test_a_flood_of_cluster_reads_runs_few_statements_and_keeps_the_lease(
    member: Daemon,
) -> None:
    """``GET /api/v1/cluster`` needs no token and read the claims on the member's one
    dedicated connection, under the lock its heartbeat takes: every request queued one
    more read ahead of the heartbeat, so a flood of them (anyone who reaches the port)
    could hold the heartbeat past lease/3 and the member stopped sending. Concurrent
    requests now share one read, and an answer younger than a second is reused."""
    node: Any = member.node
    db = node.db
    reads = 0
    real = db.claims

    async def counted() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        got: dict[str, Any] = await real()
        return got

    db.claims = counted  # a spy: every call still reaches PostgreSQL
    failures = node.membership.failures
    async with aiohttp.ClientSession(base_url(member)) as http:

        async def one() -> int:
            async with http.get("/api/v1/cluster") as resp:
                await resp.read()
                return resp.status

        answers = await asyncio.gather(*(one() for _ in range(200)))
    assert set(answers) == {200}
    assert reads <= 3, reads  # one shared read (two if a second passed meanwhile)
    assert node.membership.failures == failures
    assert node.membership.healthy
