"""Review: what a member shows of the checks other members probe while the shared
store cannot be read (docs/scaling.md, "The status page and the API on every
member"). Two members in this process on this run's PostgreSQL; the ``results``
table is renamed under them, then put back."""

from __future__ import annotations

import json

import aiohttp
import asyncpg

from sentinel.app.daemon import Daemon
from sentinel.cluster.ownership import owners
from tests.cluster.test_shared_view import CHECKS, both_live, get_json, get_text, members, until
from tests.web.test_page import base_url

__all__ = ["members"]


async def rename(url: str, old: str, new: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg:", "postgresql:"))
    try:
        await conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
    finally:
        await conn.close()


async def test_the_page_and_api_keep_the_last_read_while_the_store_is_out(
    members: list[Daemon], postgres_url: str
) -> None:
    """The page and the API answer from memory while the read fails: the check keeps
    the owner's last result and ``probed_by`` (its ``last_run`` shows its age), and
    the member reads again once the store is back. ``GET /api/v1/checks/{name}``,
    which reads the check's recent runs from the store, answered 500 ("internal
    error") while the store was out; it is 503 with Retry-After now."""
    a, b = members
    await until(lambda: both_live(members))
    name = next(n for n in CHECKS if owners(n, b.node.membership.live()) == ["m-a"])

    async def shown_by_b() -> bool:
        body = await get_json(b, f"/api/v1/checks/{name}")
        return bool(body["state"] == "up" and body["probed_by"])

    await until(shown_by_b)
    shared = b.node.results
    assert shared is not None
    await rename(postgres_url, "results", "results_review_gone")
    try:
        await until(lambda: shared.failing)
        listed = (await get_json(b, "/api/v1/checks?limit=1000"))["items"]
        body = next(c for c in listed if c["name"] == name)
        assert body["state"] == "up"
        assert body["probed_by"] == {"member": "m-a", "location": "loc-m-a"}
        # one check's detail reads its recent runs from the store: 503, retry (was 500)
        async with (
            aiohttp.ClientSession(base_url(b)) as http,
            http.get(f"/api/v1/checks/{name}") as resp,
        ):
            assert resp.status == 503, resp.status
            assert resp.headers["Retry-After"] == "5"
            answer = await resp.json()
        assert "results_review_gone" not in json.dumps(answer)
        html = await get_text(b, "/")
        assert f'id="check-{name}"' in html
        assert "results_review_gone" not in html
    finally:
        await rename(postgres_url, "results_review_gone", "results")
    await until(lambda: not shared.failing)
    assert a.node.results is not None
