"""PostgreSQL-only behaviour: migrations under the advisory lock, errors that say
whether to retry and never hold a password, connections lost mid-run."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from sentinel.notify.base import Notice
from sentinel.notify.outbox import Delivery
from sentinel.store import StoreError, open_store
from sentinel.store.migrations import LATEST, MIGRATIONS
from sentinel.store.postgres import PostgresStore
from sentinel.store.postgres_schema import describe, migrate, schema_version
from tests.conftest import free_port
from tests.store.proxy import Proxy
from tests.store.test_sqlite import result


def via(url: str, host: str, port: int, user: str = "postgres", password: str = "") -> str:
    """``url`` with another address and user (its database and search_path kept)."""
    parts = urlsplit(url)
    auth = f"{user}:{password}@" if password else f"{user}@"
    return urlunsplit(parts._replace(netloc=f"{auth}{host}:{port}"))


def delivery(key: str, at: float = 1.0) -> Delivery:
    return Delivery(key, "fp", "t", "c", None, Notice(kind="test", at=at), at, at)


async def test_migrations_are_recorded_per_step(postgres_url: str) -> None:
    """Each step leaves a row (version, name, time) in sentinel_schema."""
    store = open_store(postgres_url)
    await store.open()
    await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch("SELECT version, name FROM sentinel_schema ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [
            (n + 1, m.name) for n, m in enumerate(MIGRATIONS)
        ]
        assert await migrate(conn, "db") == 0
    finally:
        await conn.close()


async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    """Four stores opening one empty database at once: the advisory lock lets one
    migrate; the others find the schema done and every one opens."""
    stores = [open_store(postgres_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        await stores[0].add_results([result("a", 0)])
        assert await stores[3].recent_results("a") == [result("a", 0)]
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM sentinel_schema") == LATEST
        assert await schema_version(conn) == LATEST
    finally:
        await conn.close()


async def test_a_newer_schema_is_refused_untouched(postgres_url: str) -> None:
    """A database migrated by a newer sentinel is refused, clearly and for good."""
    first = open_store(postgres_url)
    await first.open()
    await first.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("INSERT INTO sentinel_schema (version, name) VALUES ($1, 'x')", 99)
    finally:
        await conn.close()
    with pytest.raises(
        StoreError, match=f"schema version 99, newer than this sentinel knows \\({LATEST}\\)"
    ) as info:
        await open_store(postgres_url).open()
    assert not info.value.transient


async def test_unknown_database_and_user_are_fatal_and_name_no_password(
    postgres_url: str,
) -> None:
    """Wrong credentials or a database that does not exist: one clear line, not worth
    retrying, without the password or the URL."""
    parts = urlsplit(postgres_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    nodb = urlunsplit(
        parts._replace(path="/sentinel_no_such_db", netloc=f"postgres:hunter2@{host}:{port}")
    )
    with pytest.raises(StoreError, match="database does not exist") as info:
        await open_store(nodb).open()
    assert not info.value.transient
    assert "hunter2" not in str(info.value)
    assert f"postgresql://{host}:{port}/sentinel_no_such_db" in str(info.value)
    nouser = via(postgres_url, host, port, user="sentinel_no_such_user", password="hunter2")
    with pytest.raises(StoreError, match="authentication failed") as info:
        await open_store(nouser).open()
    assert not info.value.transient
    assert "hunter2" not in str(info.value)


async def test_a_server_that_is_down_is_transient(postgres_url: str) -> None:
    """Nothing listening: a transient StoreError naming where, never the password."""
    url = via(postgres_url, "127.0.0.1", free_port(), password="hunter2")
    store = open_store(url, pool_size=1)
    with pytest.raises(StoreError, match="cannot reach the server") as info:
        await store.open()
    assert info.value.transient
    assert "hunter2" not in str(info.value)
    assert await store.ping() is False


def test_describe_keeps_host_port_and_database_only() -> None:
    assert describe("postgresql://u:pw@db.internal:6432/mon?sslmode=require") == (
        "postgresql://db.internal:6432/mon"
    )


async def test_a_database_that_comes_up_later_opens(postgres_url: str) -> None:
    """Down at start: open fails as transient (the daemon waits and tries again, see
    ``Daemon._open_store``), and the same store opens once the database answers."""
    parts = urlsplit(postgres_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    store = open_store(via(postgres_url, "127.0.0.1", proxy.port))
    for _ in range(2):
        with pytest.raises(StoreError, match="cannot reach the server") as info:
            await store.open()
        assert info.value.transient
    await proxy.start()
    try:
        await store.open()
        assert await store.ping() is True
    finally:
        await store.close()
        await proxy.stop()


async def test_lost_connections_are_retried_and_nothing_is_lost(postgres_url: str) -> None:
    """pg_terminate_backend on every connection of this store mid-run: the next
    writes reconnect and go through; the outbox keeps every row."""
    app = f"sentinel_test_{id(postgres_url):x}"
    url = postgres_url + "&" + urlencode({"application_name": app})
    store = open_store(url, pool_size=3)
    await store.open()
    try:
        await store.commit_notifications([], [delivery("a")], 1.0)
        await asyncio.gather(*(store.recent_results("x") for _ in range(3)))  # fill the pool
        admin = await asyncpg.connect(postgres_url)
        try:
            killed = await admin.fetchval(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = $1",
                app,
            )
        finally:
            await admin.close()
        assert killed >= 1
        await store.add_results([result("a", 0)])
        added = await store.commit_notifications([("fp", {"s": 1})], [delivery("b")], 2.0)
        assert [d.dedup for d in added] == ["b"]
        assert [d.dedup for d in await store.open_deliveries()] == ["a", "b"]
        assert await store.recent_results("a") == [result("a", 0)]
    finally:
        await store.close()


async def test_database_gone_mid_run_fails_retryably_then_recovers(postgres_url: str) -> None:
    """The database unreachable mid-run: writes fail with a transient StoreError
    (the caller keeps its rows), ping is False; once it is back, all works again."""
    parts = urlsplit(postgres_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    store = PostgresStore(
        via(postgres_url, "127.0.0.1", proxy.port, password="hunter2"),
        pool_size=2,
        retry_pauses=(0.0, 0.05),
        connect_timeout=2.0,
    )
    await store.open()
    try:
        await store.commit_notifications([], [delivery("a")], 1.0)
        await proxy.stop()
        with pytest.raises(StoreError) as info:
            await store.commit_notifications([], [delivery("b")], 2.0)
        assert info.value.transient
        assert "hunter2" not in str(info.value)
        assert await store.ping() is False
        await proxy.start()
        assert await store.ping() is True
        await store.commit_notifications([], [delivery("b")], 2.0)
        assert [d.dedup for d in await store.open_deliveries()] == ["a", "b"]
    finally:
        await store.close()
        await proxy.stop()


def test_postgresql_urls_open_the_postgresql_store() -> None:
    """postgresql://, postgres:// and postgresql+asyncpg:// all name this store."""
    for url in ("postgresql://u@db/s", "postgres://u@db/s", "postgresql+asyncpg://u@db/s"):
        store = open_store(url, pool_size=2)
        assert isinstance(store, PostgresStore)
        assert store.where == "postgresql://db:5432/s"


async def test_a_commit_whose_answer_is_lost_still_returns_its_rows(postgres_url: str) -> None:
    """The connection breaks after COMMIT reached the server: the retry finds the rows
    committed, and returns them as this call's (the dispatcher must hear of them now,
    not at the next start); a row from an earlier call is still not returned."""
    parts = urlsplit(postgres_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    store = open_store(via(postgres_url, "127.0.0.1", proxy.port), pool_size=1)
    await store.open()
    try:
        await store.commit_notifications([], [delivery("old")], 1.0)
        proxy.cut_after = b"COMMIT"
        again = [delivery("old", 2.0), delivery("new", 2.0)]
        added = await store.commit_notifications([], again, 2.0)
        assert proxy.cut_after is None  # the cut happened
        assert [d.dedup for d in added] == ["new"]
        assert [d.dedup for d in await store.open_deliveries()] == ["old", "new"]
    finally:
        await store.close()
        await proxy.stop()


@pytest.mark.parametrize(
    "url", ["postgresql://u:hunter2@[bad/x", "postgresql://u:hunter2@db:notaport/x"]
)
async def test_an_unreadable_url_is_one_clear_fatal_line(url: str) -> None:
    """A URL asyncpg cannot read is a StoreError, not worth retrying, without the password."""
    with pytest.raises(StoreError, match="invalid url") as info:
        await open_store(url).open()
    assert not info.value.transient
    assert "hunter2" not in str(info.value)


async def test_two_replicas_rolling_up_at_once_add_the_minutes_to_their_hours_once(
    postgres_url: str,
) -> None:
    """Two replicas' hourly roll-ups overlap (a third session holds the hour's row, so
    the first waits inside its transaction): the second waits for the first instead of
    reading the minutes the first has not deleted yet, so the hour holds each minute
    once. Before, the second read them too and added them a second time."""
    one, two = open_store(postgres_url), open_store(postgres_url)
    await one.open()
    await two.open()
    hour = 500_000 * 60
    try:
        await one.save_slo_minutes([("api", hour + 1, 5, 6), ("api", hour + 2, 3, 3)], "m1")
        blocker = await asyncpg.connect(postgres_url)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute(
                "INSERT INTO slo_hours VALUES ('api', $1, 0, 0, $1)", hour
            )  # held, not committed: the first roll-up waits on this row
            first = asyncio.ensure_future(one.roll_up_slo_minutes(hour + 60))
            await asyncio.sleep(0.5)
            second = asyncio.ensure_future(two.roll_up_slo_minutes(hour + 60))
            await asyncio.sleep(0.5)
            await tx.rollback()
            done = await asyncio.gather(first, second)
        finally:
            await blocker.close()
        assert sorted(done) == [0, 2]
        assert await one.load_slo_hours(0) == [("api", hour, 8, 9, hour + 1)]
    finally:
        await one.close()
        await two.close()
