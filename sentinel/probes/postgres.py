"""PostgreSQL probe: connect, SELECT 1 latency, pool and health figures, custom queries.

Each run opens one connection and closes it, whatever happens, so a probe
never holds a connection slot between runs and never leaks one. Every
statement runs read-only under a statement timeout (set at connect time).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from decimal import Decimal
from typing import Any

import asyncpg

from sentinel.clock import Clock
from sentinel.config.checks import PostgresCheck
from sentinel.config.units import format_duration
from sentinel.probes.base import ProbeContext
from sentinel.probes.errors import describe_os_error
from sentinel.probes.results import Outcome, Sample

HEALTH_QUERY = """
SELECT
    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
    current_setting('max_connections')::int AS max_connections,
    (SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction') AS idle_in_transaction,
    (SELECT coalesce(extract(epoch FROM max(now() - xact_start)), 0)
       FROM pg_stat_activity
      WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
        AND backend_type = 'client backend') AS longest_transaction_seconds,
    (SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock') AS blocked_queries,
    pg_database_size(current_database()) AS database_size_bytes,
    pg_is_in_recovery() AS replica,
    CASE WHEN pg_is_in_recovery()
         THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
    END AS replication_lag_seconds,
    EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS has_statements
"""
SLOWEST_QUERY = "SELECT coalesce(max(mean_exec_time), 0) / 1000.0 FROM pg_stat_statements"
DEFAULT_STATEMENT_TIMEOUT = 5.0


def number(value: Any) -> float | None:
    """A query cell as a float, or None when it is not a number."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | Decimal):
        result = float(value)
        return result if math.isfinite(result) else None
    return None


def query_samples(name: str, records: list[asyncpg.Record]) -> list[Sample] | str:
    """One number -> ``name``; rows of (label, number) -> ``name{<column>=label}``.
    Returns the reason as a string when the shape is not one of those."""
    if len(records) == 1 and len(records[0]) == 1:
        value = number(records[0][0])
        if value is None:
            return f"query {name}: result is not a number"
        return [Sample(name, value)]
    if not records:
        return []  # rows of (label, number), none today
    if len(records[0]) != 2:
        return f"query {name}: expected one number or rows of (label, number)"
    label = next(iter(records[0].keys()))
    out = []
    for row in records:
        value = number(row[1])
        if value is None:
            return f"query {name}: result is not a number"
        out.append(Sample(name, value, ((label, str(row[0])),)))
    return out


class PostgresProbe:
    def __init__(self, check: PostgresCheck, ctx: ProbeContext) -> None:
        self._clock: Clock = ctx.clock
        self._dsn = check.dsn.get_secret_value()
        self._timeout = check.timeout
        self._timeout_reason = f"timeout after {format_duration(check.timeout)}"
        statement_timeout = check.statement_timeout or min(check.timeout, DEFAULT_STATEMENT_TIMEOUT)
        self._settings = {
            "application_name": "sentinel",
            "default_transaction_read_only": "on",
            "statement_timeout": str(max(1, int(statement_timeout * 1000))),
        }
        self._queries = dict(check.queries)

    async def run(self) -> Outcome:
        samples: list[Sample] = []
        conn: asyncpg.Connection | None = None
        try:
            start = self._clock.monotonic()
            conn = await _connect(self._dsn, self._timeout, self._settings)
            samples.append(Sample("connect_seconds", self._clock.monotonic() - start))
            start = self._clock.monotonic()
            await conn.fetchval("SELECT 1")
            samples.append(Sample("ping_seconds", self._clock.monotonic() - start))
            health = await conn.fetchrow(HEALTH_QUERY)
            samples.extend(self._health(health))
            if health is not None and health["has_statements"]:
                with contextlib.suppress(asyncpg.PostgresError):
                    slowest = await conn.fetchval(SLOWEST_QUERY)
                    samples.append(Sample("slowest_query_mean_seconds", float(slowest)))
            for name, sql in self._queries.items():
                try:
                    records = await conn.fetch(sql)
                except asyncpg.PostgresError as exc:
                    return Outcome.failed(f"query {name}: {_pg_reason(exc)}", tuple(samples))
                found = query_samples(name, records)
                if isinstance(found, str):
                    return Outcome.failed(found, tuple(samples))
                samples.extend(found)
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
            return Outcome.failed("authentication failed")
        except asyncpg.InvalidCatalogNameError:
            return Outcome.failed("database does not exist")
        except asyncpg.TooManyConnectionsError:
            return Outcome.failed("too many connections")
        except asyncpg.PostgresError as exc:
            return Outcome.failed(f"postgres error: {_pg_reason(exc)}", tuple(samples))
        except TimeoutError:
            return Outcome.failed(self._timeout_reason, tuple(samples))
        except OSError as exc:
            return Outcome.failed(describe_os_error(exc))
        except (asyncpg.InterfaceError, asyncpg.ClientConfigurationError) as exc:
            return Outcome.failed(f"postgres client error: {type(exc).__name__}")
        finally:
            if conn is not None:
                await _close(conn)
        return Outcome(ok=True, samples=tuple(samples))

    @staticmethod
    def _health(row: asyncpg.Record | None) -> list[Sample]:
        if row is None:
            return []
        out = [
            Sample(key, float(row[key]))
            for key in (
                "connections",
                "max_connections",
                "idle_in_transaction",
                "longest_transaction_seconds",
                "blocked_queries",
                "database_size_bytes",
            )
        ]
        if row["max_connections"]:
            out.append(
                Sample("connections_used_ratio", row["connections"] / row["max_connections"])
            )
        if row["replica"]:
            out.append(Sample("replication_lag_seconds", float(row["replication_lag_seconds"])))
        return out

    async def close(self) -> None:
        return None


async def _connect(dsn: str, limit: float, settings: dict[str, str]) -> asyncpg.Connection:
    """Connect; a run cancelled while connecting lets the connect finish on its own and
    then drops the connection. Cancelling asyncpg.connect itself mid-handshake
    occasionally left a server backend behind (seen in the 1,000-run leak test)."""
    connecting = asyncio.ensure_future(
        asyncpg.connect(dsn, timeout=limit, server_settings=settings)
    )
    try:
        return await asyncio.shield(connecting)
    except asyncio.CancelledError:
        connecting.add_done_callback(_drop)
        raise


def _drop(connecting: asyncio.Future[asyncpg.Connection]) -> None:
    if not connecting.cancelled() and connecting.exception() is None:
        connecting.result().terminate()


async def _close(conn: asyncpg.Connection) -> None:
    """Close even when the run is being cancelled: a cancelled close would leak the slot."""
    try:
        await asyncio.shield(conn.close(timeout=2))
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:
        conn.terminate()


def _pg_reason(exc: asyncpg.PostgresError) -> str:
    """The server's message, first line, without detail that could echo data."""
    if isinstance(exc, asyncpg.QueryCanceledError):
        return "statement timeout"
    message = str(getattr(exc, "message", "") or exc).splitlines()[0]
    return message[:120]
