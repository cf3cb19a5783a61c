"""Claims and leases against the real PostgreSQL, on the database's clock: a claim
counts only when the statement touched the row, never for a member whose lease ran
out, and passes on when the holder's claim ran out or its session is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from sentinel import __version__
from sentinel.clock import FakeClock
from sentinel.cluster.dbclock import DbClock
from sentinel.cluster.heartbeat import ClusterMembership
from sentinel.cluster.membership import Member
from sentinel.cluster.pg import ClusterDb
from sentinel.notify.outbox import Delivery
from sentinel.store.migrations import LATEST
from sentinel.store.postgres import PostgresStore
from tests.notify.fakes import T0, notice
from tests.polling import eventually

LEASE = 15.0


def me(mid: str) -> Member:
    return Member(mid, "eu", __version__, LATEST, T0, T0)


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(postgres_url)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def dbs(postgres_url: str, store: PostgresStore) -> AsyncIterator[dict[str, ClusterDb]]:
    out = {mid: ClusterDb(postgres_url) for mid in ("a", "b")}
    for mid, db in out.items():
        await db.beat(me(mid), LEASE, None, lambda: T0)
    yield out
    for db in out.values():
        await db.close()


async def row(store: PostgresStore, key: str = "k1") -> int:
    d = Delivery(key, "fp", "hook", "hook", None, notice(), T0, T0)
    [added] = await store.commit_notifications([], [d], T0)
    assert added.id is not None
    return added.id


async def sql(url: str, statement: str, *args: object) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def test_one_member_wins_an_outbox_row_until_its_claim_runs_out(
    store: PostgresStore, dbs: dict[str, ClusterDb], postgres_url: str
) -> None:
    """a claims; b gets nothing; a claims again (renewal); once a's claim ran out by the
    database's clock, b takes it over and a no longer can."""
    rid = await row(store)
    assert await dbs["a"].claim_outbox("a", [rid], 30.0) == {rid}
    assert await dbs["b"].claim_outbox("b", [rid], 30.0) == set()
    assert await dbs["a"].claim_outbox("a", [rid], 30.0) == {rid}
    await sql(postgres_url, "UPDATE outbox SET lease_until = lease_until - 31")
    assert await dbs["b"].claim_outbox("b", [rid], 30.0) == {rid}
    assert await dbs["a"].claim_outbox("a", [rid], 30.0) == set()


async def test_an_outbox_row_passes_at_once_when_its_claimants_session_is_gone(
    store: PostgresStore, dbs: dict[str, ClusterDb]
) -> None:
    """A sender killed while retrying (its claim still running): the next process sends
    the row at once instead of a claim lease later (a restart on PostgreSQL)."""
    rid = await row(store)
    assert await dbs["a"].claim_outbox("a", [rid], 30.0) == {rid}
    dbs["a"].drop()

    async def taken() -> bool:
        return await dbs["b"].claim_outbox("b", [rid], 30.0) == {rid}

    await eventually(taken, 5)


async def test_a_member_whose_lease_ran_out_cannot_claim_and_a_sent_row_is_nobodys(
    store: PostgresStore, dbs: dict[str, ClusterDb], postgres_url: str
) -> None:
    """Heartbeat older than the lease by the database's clock: no claim; a row already
    sent is claimed by no one; unclaimed() lists only open rows nobody holds."""
    rid, sent = await row(store, "k1"), await row(store, "k2")
    await sql(postgres_url, "UPDATE outbox SET state = 'sent' WHERE id = $1", sent)
    await sql(postgres_url, "UPDATE cluster_members SET heartbeat = heartbeat - $1", LEASE + 1)
    assert await dbs["a"].claim_outbox("a", [rid], 30.0) == set()
    await dbs["b"].beat(me("b"), LEASE, None, lambda: T0)
    assert await dbs["b"].claim_outbox("b", [rid, sent], 30.0) == {rid}
    await sql(postgres_url, "UPDATE outbox SET created_at = created_at - 1e9")
    assert [d.id for d in await dbs["a"].unclaimed(2.0)] == []  # b holds it
    await sql(postgres_url, "UPDATE outbox SET lease_until = 0")
    assert [d.id for d in await dbs["a"].unclaimed(2.0)] == [rid]


async def test_an_alert_claim_passes_at_once_when_its_holders_session_is_gone(
    dbs: dict[str, ClusterDb],
) -> None:
    """a escalates fp; b cannot; a killed (its connection closes): b takes it over
    without waiting for the lease; released, anyone may take it."""
    assert await dbs["a"].hold("a", ["fp", "fp2"], LEASE) == {"fp", "fp2"}
    assert await dbs["b"].hold("b", ["fp"], LEASE) == set()
    dbs["a"].drop()

    async def taken() -> bool:
        return await dbs["b"].hold("b", ["fp"], LEASE) == {"fp"}

    await eventually(taken, 5)
    await dbs["b"].release("b", ["fp"])
    await dbs["a"].beat(me("a"), LEASE, None, lambda: T0)
    assert await dbs["a"].hold("a", ["fp", "fp2"], LEASE) == {"fp", "fp2"}


async def test_membership_on_a_fake_clock_loses_its_lease_without_renewal(
    postgres_url: str, store: PostgresStore
) -> None:
    """A heartbeat makes us healthy, live and (alone) leader; no renewal for a lease on
    the monotonic clock: not healthy any more, whatever the database says."""
    clock = FakeClock()
    m = ClusterMembership(me("solo"), DbClock(clock), ClusterDb(postgres_url), LEASE)
    try:
        assert not m.healthy
        assert await m.beat()
        assert (m.healthy, m.acting, m.leader) == (True, True, True)
        assert [x.id for x in m.live()] == ["solo"]
        await clock.advance(LEASE - 1.0)
        assert not m.healthy
        assert not m.acting
    finally:
        await m.leave()


async def test_a_member_older_than_the_schema_stays_live_but_does_not_act(
    postgres_url: str, store: PostgresStore
) -> None:
    """Rolling upgrade: a newer sentinel migrated the database; the older member keeps
    its lease and says why it neither sends nor escalates."""
    await sql(
        postgres_url, "INSERT INTO sentinel_schema (version, name) VALUES ($1, 'next')", LATEST + 1
    )
    m = ClusterMembership(me("old"), DbClock(FakeClock()), ClusterDb(postgres_url), LEASE)
    try:
        assert await m.beat()
        assert m.healthy
        assert not m.acting
        assert "outdated" in (m.reason or "")
    finally:
        await m.leave()


async def test_a_failed_heartbeat_stops_a_member_at_once_and_keeps_its_last_view(
    postgres_url: str, store: PostgresStore
) -> None:
    """Healthy after a heartbeat; the next one fails (database unreachable): unhealthy
    and not leader at once, the reason says why, the last live view stays."""
    clock = FakeClock()
    first = ClusterDb(postgres_url)
    m = ClusterMembership(me("lone"), DbClock(clock), first, LEASE)
    try:
        assert await m.beat()
        assert m.leader
        await first.close()
        m.db = ClusterDb("postgresql://postgres@127.0.0.1:1/none", timeout=1.0)
        assert not await m.beat()
        assert (m.healthy, m.acting, m.leader) == (False, False, False)
        assert "cannot renew the cluster lease" in (m.reason or "")
        assert [x.id for x in m.live()] == ["lone"]
    finally:
        await m.leave()


async def test_one_heartbeat_statement_renews_leads_sees_the_others_and_forgets_the_long_dead(
    postgres_url: str, store: PostgresStore
) -> None:
    """The heartbeat is one statement: the first member takes the leader lock and keeps
    it, the second sees it and does not; both see each other live and connected; a
    member whose session closed shows disconnected and the lock passes at the next
    heartbeat; a row dead longer than FORGET_AFTER is deleted."""
    a, b = ClusterDb(postgres_url), ClusterDb(postgres_url)
    try:
        first = await a.beat(me("a"), LEASE, 7, lambda: T0)
        assert first.leader
        assert [(m.id, m.connected) for m in first.members] == [("a", True)]
        assert first.schema == LATEST
        seen = await b.beat(me("b"), LEASE, None, lambda: T0)
        assert not seen.leader
        assert [(m.id, m.connected) for m in seen.members] == [("a", True), ("b", True)]
        assert [(r["id"], r["leader"], r["owned_checks"]) for r in seen.rows] == [
            ("a", True, 7),
            ("b", False, None),
        ]
        assert (await a.beat(me("a"), LEASE, 7, lambda: T0)).leader  # kept
        a.drop()

        async def took_over() -> bool:
            beat = await b.beat(me("b"), LEASE, None, lambda: T0)
            return beat.leader and [m.connected for m in beat.members] == [False, True]

        await eventually(took_over, 5)
        await sql(
            postgres_url, "UPDATE cluster_members SET heartbeat = heartbeat - 4000 WHERE id = 'a'"
        )
        await b.beat(me("b"), LEASE, None, lambda: T0)
        assert [m.id for m in (await b.beat(me("b"), LEASE, None, lambda: T0)).members] == ["b"]
    finally:
        await a.close()
        await b.close()
