"""PostgreSQL probe against a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from sentinel.config.checks import PostgresCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.postgres import PostgresProbe
from sentinel.probes.results import Outcome
from tests.conftest import free_port
from tests.polling import eventually
from tests.probes.conftest import sample_values
from tests.services import unavailable


@pytest.fixture
def dsn(postgres_dsn: str) -> str:
    return postgres_dsn


@pytest.fixture
async def admin(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except Exception as exc:
        unavailable("PostgreSQL", type(exc).__name__)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS sentinel_test_orders (id serial PRIMARY KEY, status text NOT NULL)"
    )
    await conn.execute("TRUNCATE sentinel_test_orders")
    yield conn
    await conn.execute("DROP TABLE IF EXISTS sentinel_test_orders")
    await conn.close()


def check(dsn: str, **options: Any) -> PostgresCheck:
    return PostgresCheck.model_validate(
        {"type": "postgres", "name": "db", "dsn": dsn, "timeout": "5s", **options}
    )


async def run_once(ctx: ProbeContext, c: PostgresCheck) -> Outcome:
    probe = PostgresProbe(c, ctx)
    try:
        return await probe.run()
    finally:
        await probe.close()


async def client_backends(admin: asyncpg.Connection, application: str = "sentinel") -> int:
    return int(
        await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application
        )
    )


async def test_health_figures(ctx: ProbeContext, admin: asyncpg.Connection, dsn: str) -> None:
    """A healthy server reports latency, connections, limits, size and transaction figures."""
    outcome = await run_once(ctx, check(dsn))
    assert outcome.ok, outcome.error
    got = sample_values(outcome)
    assert got["max_connections"] == float(await admin.fetchval("SHOW max_connections"))
    assert got["connections"] >= 2  # the probe and the test's own connection
    assert got["connections_used_ratio"] == got["connections"] / got["max_connections"]
    assert got["database_size_bytes"] > 0
    for name in ("connect_seconds", "ping_seconds", "idle_in_transaction", "blocked_queries"):
        assert name in got
    assert "replication_lag_seconds" not in got  # a primary


async def test_custom_queries_one_number_and_labelled_rows(
    ctx: ProbeContext, admin: asyncpg.Connection, dsn: str
) -> None:
    """A one-number query becomes a sample; (label, number) rows become labelled samples."""
    await admin.executemany(
        "INSERT INTO sentinel_test_orders (status) VALUES ($1)",
        [("paid",), ("paid",), ("open",)],
    )
    queries = {
        "open_orders": "SELECT count(*) FROM sentinel_test_orders WHERE status = 'open'",
        "orders_by_status": "SELECT status, count(*) FROM sentinel_test_orders GROUP BY status",
    }
    outcome = await run_once(ctx, check(dsn, queries=queries))
    assert outcome.ok, outcome.error
    got = sample_values(outcome)
    assert got["open_orders"] == 1
    assert got["orders_by_status{status=paid}"] == 2
    assert got["orders_by_status{status=open}"] == 1


async def test_queries_run_read_only(
    ctx: ProbeContext, admin: asyncpg.Connection, dsn: str
) -> None:
    """A custom query that writes is refused by the server and named in the reason."""
    outcome = await run_once(
        ctx,
        check(
            dsn,
            queries={
                "sneaky": "INSERT INTO sentinel_test_orders (status) VALUES ('x') RETURNING 1"
            },
        ),
    )
    assert outcome.error is not None
    assert outcome.error.startswith("query sneaky: ")
    assert "read-only" in outcome.error
    assert await admin.fetchval("SELECT count(*) FROM sentinel_test_orders") == 0


async def test_query_errors_and_non_numbers_name_the_query(
    ctx: ProbeContext, admin: asyncpg.Connection, dsn: str
) -> None:
    """A failing query and a non-numeric result each fail with the query's name."""
    broken = await run_once(ctx, check(dsn, queries={"broken": "SELECT * FROM no_such_table"}))
    assert broken.error == 'query broken: relation "no_such_table" does not exist'
    text = await run_once(ctx, check(dsn, queries={"word": "SELECT 'hello'"}))
    assert text.error == "query word: result is not a number"


async def test_statement_timeout(ctx: ProbeContext, admin: asyncpg.Connection, dsn: str) -> None:
    """A query slower than statement_timeout is cancelled by the server and says so."""
    outcome = await run_once(
        ctx,
        check(dsn, statement_timeout="200ms", queries={"slow": "SELECT pg_sleep(2)::text::int"}),
    )
    assert outcome.error == "query slow: statement timeout"


async def test_bad_credentials(ctx: ProbeContext, admin: asyncpg.Connection, dsn: str) -> None:
    """Credentials the server refuses fail as 'authentication failed'; the password is nowhere.

    The test server trusts loopback, so it refuses the role rather than the password;
    both arrive as SQLSTATE class 28 and map to the same reason.
    """
    host = dsn.split("@", 1)[1]
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    bad = await run_once(ctx, check(dsn=f"postgresql://{role}:wrong-pass-xyz@{host}"))
    assert bad.error == "authentication failed"
    assert "wrong-pass-xyz" not in repr(bad)


async def test_server_down(ctx: ProbeContext) -> None:
    """Nothing listening: 'connection refused'."""
    outcome = await run_once(ctx, check(dsn=f"postgresql://postgres@127.0.0.1:{free_port()}/test"))
    assert outcome.error == "connection refused"


async def test_saturation_is_reported(
    ctx: ProbeContext, admin: asyncpg.Connection, dsn: str
) -> None:
    """Opening connections until 80% of max_connections shows up in connections_used_ratio."""
    limit = int(await admin.fetchval("SHOW max_connections"))
    in_use = int(
        await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
    )
    target = int(limit * 0.8) + 1
    extra = []
    try:
        for _ in range(max(0, target - in_use)):
            try:
                extra.append(await asyncpg.connect(dsn, timeout=5))
            except asyncpg.TooManyConnectionsError:
                break  # others filled the server first: it is saturated all the same
        outcome = await run_once(ctx, check(dsn))
        expected = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
    finally:
        await asyncio.gather(*(c.close() for c in extra))
    assert outcome.ok, outcome.error
    got = sample_values(outcome)
    assert got["connections_used_ratio"] > 0.8
    assert got["connections_used_ratio"] == got["connections"] / limit
    # the probe's own connection is counted too; other clients may come and go meanwhile
    assert got["connections"] >= expected


# 1,000 connections: about 15 s alone, minutes when the 2-core host is shared by several
# test runs; past the default 120 s then.
@pytest.mark.timeout(600)
async def test_no_connection_leaks_over_1000_runs(
    ctx: ProbeContext, admin: asyncpg.Connection, dsn: str
) -> None:
    """1,000 runs with successes, query errors and cancellations leave no connection behind."""
    app = f"sentinel-leak-{uuid.uuid4().hex[:6]}"
    # The check's 5 s timeout is about speed, not leaks: on a loaded host a connection
    # can take that long, and a timed-out run would count as failed. 60 s still ends a hang.
    probe = PostgresProbe(check(dsn, interval="1m", timeout="60s", queries={"n": "SELECT 1"}), ctx)
    probe._settings["application_name"] = app
    failing = PostgresProbe(
        check(dsn, interval="1m", timeout="60s", queries={"bad": "SELECT * FROM nope"}), ctx
    )
    failing._settings["application_name"] = app
    outcomes = {"ok": 0, "failed": 0, "cancelled": 0}
    errors: set[str | None] = set()  # shown when the counts are off
    for i in range(1000):
        if i % 10 == 9:
            task = asyncio.ensure_future(probe.run())
            await asyncio.sleep(0.001 * (i % 7))
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            outcomes["cancelled"] += 1
        elif i % 10 == 5:
            outcome = await failing.run()
            outcomes["failed" if not outcome.ok else "ok"] += 1
            errors.add(outcome.error)
        else:
            outcome = await probe.run()
            outcomes["ok" if outcome.ok else "failed"] += 1
            errors.add(outcome.error)
    assert outcomes == {"ok": 800, "failed": 100, "cancelled": 100}, errors

    async def none_left() -> bool:  # the server notices closed sockets asynchronously
        return await client_backends(admin, app) == 0

    await eventually(none_left, seconds=60)
