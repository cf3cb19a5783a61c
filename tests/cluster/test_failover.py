"""Real members on one PostgreSQL: a critical alert escalates through three steps while
the member sending them is killed, cut off from the database, or has its clock
minutes ahead; every step reaches the webhook exactly once and on time, and the
resolution arrives (issue 16)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from sentinel.cluster.ownership import weight
from tests.cluster.harness import (
    EXPECTED,
    ON_TIME,
    Member,
    get,
    live_ids,
    member,
    on_time,
    outbox,
    post,
    received,
    start_all,
)
from tests.polling import eventually
from tests.reliability.harness import peers

# `make test` runs each scenario once; `make soak` repeats them (SENTINEL_CLUSTER_ROUNDS).
ROUNDS = range(int(os.environ.get("SENTINEL_CLUSTER_ROUNDS", "1")))


async def sender_of_first_page(url: str) -> str:
    """The member that sent the first page. The webhook fake has it before its sender
    marks the row sent (the provider answers, then the row is written): wait for that."""
    sent: list[dict[str, object]] = []

    async def marked() -> bool:
        rows = await outbox(url)
        sent[:] = [r for r in rows if r["kind"] == "firing" and r["state"] == "sent"]
        return bool(sent)

    await eventually(marked, 15)
    assert len(sent) == 1, sent
    return str(sent[0]["claimed_by"])


async def alert_fingerprint(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SELECT fingerprint FROM alerts"))
    finally:
        await conn.close()


async def stop_all(members: list[Member]) -> None:
    for m in members:
        if m.proc.proc is not None and m.proc.proc.returncode is None:
            await m.proc.stop()


@pytest.mark.parametrize("round_", ROUNDS)
async def test_three_members_each_step_once_and_on_time_when_the_sender_is_killed(
    postgres_url: str, tmp_path: Path, round_: int
) -> None:
    """kill -9 of the member that sent step 1: the others send steps 2 and 3 on time,
    once each, and the resolution."""
    async with peers() as p:
        members = [member(p, tmp_path, f"m{n}", postgres_url) for n in (1, 2, 3)]
        try:
            await start_all(members)
            await eventually(lambda: _all_live(members[0], 3), 30)
            p.target.down.add("api")
            await eventually(lambda: ("firing", 0) in received(p), 30)
            sender = await sender_of_first_page(postgres_url)
            victim = next(m for m in members if m.id == sender)
            await victim.proc.kill()
            survivors = [m for m in members if m is not victim]
            await eventually(lambda: ("escalation", 2) in received(p), 30)
            p.target.down.clear()
            await eventually(lambda: ("resolved", 0) in received(p), 30)
            await asyncio.sleep(2)  # anything sent twice would arrive by now
            assert received(p) == EXPECTED
            assert all(-0.5 <= late <= ON_TIME for late in on_time(p)), on_time(p)
            assert await live_ids(survivors[0]) == sorted(m.id for m in survivors)
        finally:
            await stop_all(members)


@pytest.mark.parametrize("round_", ROUNDS)
async def test_an_outage_ending_after_its_check_moved_is_resolved_once(
    postgres_url: str, tmp_path: Path, round_: int
) -> None:
    """The first member fires and escalates the alert; a second joins and takes the
    check (rendezvous picks it) and, as the first lets go of the alert's escalation
    claim at once, the escalation too; then it sees the target recover. The resolution
    reaches the webhook once, from the second. (A resolution seen while the old owner
    still holds the claim is retried each tick: tests/escalation/test_handed.py.)"""
    tag = secrets.token_hex(3)
    first = f"x{tag}"
    # an id that wins the check "api" against the first member's
    second = next(
        f"y{tag}{n}" for n in range(1000) if weight(f"y{tag}{n}", "api") > weight(first, "api")
    )
    env = {"SENTINEL_CLUSTER_LEASE": "6"}
    async with peers() as p:
        a = member(p, tmp_path, first, postgres_url, env)
        b = member(p, tmp_path, second, postgres_url, env)
        try:
            await start_all([a])
            p.target.down.add("api")
            await eventually(lambda: ("firing", 0) in received(p), 30)
            await start_all([b])
            await eventually(lambda: _all_live(a, 2), 30)
            await eventually(lambda: bool(b.logged("cluster_share")), 30)
            await eventually(lambda: _claims_are(b, {second: 1}), 15)
            p.target.down.clear()
            await eventually(lambda: bool(b.logged("alert_resolved")), 30)
            await eventually(lambda: ("resolved", 0) in received(p), 30)
            await asyncio.sleep(2)  # anything sent twice would arrive by now
            assert received(p)[("resolved", 0)] == 1, received(p)
            assert not a.logged("alert_resolved")  # the first member never saw it end
        finally:
            await stop_all([a, b])


async def _all_live(m: Member, n: int) -> bool:
    return len(await live_ids(m)) == n


async def _claims_are(m: Member, claims: dict[str, int]) -> bool:
    _, view = await get(m, "/api/v1/cluster")
    return bool(view["alert_claims"] == claims)


@pytest.mark.parametrize("round_", ROUNDS)
async def test_a_member_cut_off_from_postgresql_stops_sending_and_sends_nothing_twice(
    postgres_url: str, postgres_database: str, tmp_path: Path, round_: int
) -> None:
    """The sender's sessions are terminated and its role refused: within one lease its
    /ready says so and it sends nothing; the other member sends the later steps; back
    again, nothing is repeated, and an ack through it reaches the alert's escalation."""
    tag = secrets.token_hex(3)
    roles = {f"a{tag}": "", f"b{tag}": ""}
    owner = f"owner_{tag}"
    admin = await asyncpg.connect(postgres_database)
    schema = postgres_url.split("search_path=")[1]
    try:
        await admin.execute(f"CREATE ROLE {owner} NOLOGIN")
        await admin.execute(f'GRANT ALL ON SCHEMA "{schema}" TO {owner}')
        for role in roles:
            await admin.execute(f"CREATE ROLE {role} LOGIN IN ROLE {owner}")
            await admin.execute(f"ALTER ROLE {role} SET role = {owner}")
        base = postgres_url.replace("postgresql://postgres@", "postgresql://{}@")
        lease = 6.0
        async with peers() as p:
            members = [
                member(
                    p, tmp_path, role, base.format(role), {"SENTINEL_CLUSTER_LEASE": f"{lease:g}"}
                )
                for role in roles
            ]
            try:
                await start_all(members)
                await eventually(lambda: _all_live(members[0], 2), 30)
                p.target.down.add("api")
                await eventually(lambda: ("firing", 0) in received(p), 30)
                sender = await sender_of_first_page(postgres_url)
                cut = next(m for m in members if m.id == sender)
                other = next(m for m in members if m is not cut)
                await admin.execute(f"ALTER ROLE {sender} NOLOGIN")
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                    sender,
                )
                cut_at = asyncio.get_running_loop().time()

                async def not_ready() -> bool:
                    status, body = await get(cut, "/ready")
                    return status == 503 and body.get("cluster_lease_held") is False

                await eventually(not_ready, lease)
                assert asyncio.get_running_loop().time() - cut_at <= lease
                sent_before = len(cut.logged("notification_sent"))
                await eventually(lambda: ("escalation", 2) in received(p), 30)
                assert len(cut.logged("notification_sent")) == sent_before
                assert cut.logged("notify_paused") or cut.logged("cluster_lease_lost")
                await admin.execute(f"ALTER ROLE {sender} LOGIN")

                async def ready_again() -> bool:
                    status, _ = await get(cut, "/ready")
                    return status == 200

                await eventually(ready_again, 30)
                # An ack reaching the member that does not escalate the alert counts.
                _, view = await get(cut, "/api/v1/cluster")
                assert view["alert_claims"] == {other.id: 1}, view
                fp = await alert_fingerprint(postgres_url)
                status, body = await post(cut, f"/api/v1/alerts/{fp}/ack", {"by": "ann"})
                assert status == 200, body
                await eventually(lambda: ("acknowledged", 0) in received(p), 30)
                p.target.down.clear()
                await eventually(lambda: ("resolved", 0) in received(p), 30)
                await asyncio.sleep(2)
                assert received(p) == EXPECTED + Counter({("acknowledged", 0): 1})
                assert all(-0.5 <= late <= ON_TIME for late in on_time(p)), on_time(p)
                assert await live_ids(other) == sorted(roles)
            finally:
                await stop_all(members)
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1)",
            list(roles),
        )
        for role in roles:
            await admin.execute(f"DROP OWNED BY {role}")
            await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.execute(f"DROP OWNED BY {owner}")
        await admin.execute(f"DROP ROLE IF EXISTS {owner}")
        await admin.close()


@pytest.mark.parametrize("round_", ROUNDS)
async def test_a_member_minutes_ahead_changes_no_lease_claim_or_step(
    postgres_url: str, tmp_path: Path, round_: int
) -> None:
    """One member's clock 3 minutes ahead: both stay live, it measures the offset, and
    the steps (sent by both: the first sender is killed) are on time, once each."""
    async with peers() as p:
        members = [
            member(p, tmp_path, "skewed", postgres_url, {"SENTINEL_TEST_CLOCK_OFFSET": "180"}),
            member(p, tmp_path, "plain", postgres_url),
        ]
        try:
            await start_all(members)
            await eventually(lambda: _all_live(members[0], 2), 30)
            await eventually(lambda: _all_live(members[1], 2), 30)
            _, view = await get(members[0], "/api/v1/cluster")
            assert abs(view["clock_offset_seconds"] + 180) < 2, view
            p.target.down.add("api")
            await eventually(lambda: ("firing", 0) in received(p), 30)
            sender = await sender_of_first_page(postgres_url)
            victim = next(m for m in members if m.id == sender)
            await victim.proc.kill()
            await eventually(lambda: ("escalation", 2) in received(p), 30)
            p.target.down.clear()
            await eventually(lambda: ("resolved", 0) in received(p), 30)
            await asyncio.sleep(2)
            assert received(p) == EXPECTED
            assert all(-0.5 <= late <= ON_TIME for late in on_time(p)), on_time(p)
        finally:
            await stop_all(members)
