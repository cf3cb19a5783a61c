"""PostgreSQL plumbing for the store: safe error messages, and migrations under an
advisory lock.

asyncpg errors can carry the DSN or parts of it; every message made here is
scrubbed of the password and the URL, and names the database as
``postgresql://host:port/db`` only.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

import asyncpg

from sentinel.store import StoreError
from sentinel.store.migrations import MIGRATIONS, Migration, refuse_newer

# pg_advisory_lock key ("sentinel" migrations); advisory locks are per database.
MIGRATION_LOCK = 0x53_45_4E_54
VERSION_TABLE = "sentinel_schema"

# SQLSTATE prefixes worth another try: connection exceptions, transaction rollbacks
# (serialization failure, deadlock), insufficient resources (too many connections),
# operator intervention (admin shutdown, cannot connect now, query cancelled), lock
# not available, system errors.
_RETRYABLE = ("08", "40", "53", "57", "55P03", "58")


def describe(dsn: str) -> str:
    """``postgresql://host:port/db``: where, without user, password or options."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "postgresql://(unparsable url)"
    db = parts.path.lstrip("/") or "(default database)"
    return f"postgresql://{host}:{port}/{db}"


def secrets_of(dsn: str) -> list[str]:
    """The strings no message may contain: the URL and its password (raw and decoded)."""
    out = [dsn]
    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    if password:
        out += [password, unquote(password)]
    for m in re.finditer(r"password=([^&\s]+)", dsn):
        out += [m.group(1), unquote(m.group(1))]
    return sorted({s for s in out if s}, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        text = text.replace(s, "***")
    text = re.sub(r"postgres(?:ql)?(?:\+\w+)?://\S+", "postgresql://***", text)
    return " ".join(text.split())[:300]


def broken(exc: BaseException) -> bool:
    """The connection itself failed (lost, or its protocol state is confused after a
    server-side termination): it must be dropped, and the call may be retried on
    another one."""
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError
        | asyncpg.AdminShutdownError
        | OSError,
    )


def store_error(exc: BaseException, what: str, secrets: Sequence[str]) -> StoreError | None:
    """The StoreError an exception from asyncpg or the network means, or None when it
    is none of theirs (a cancellation, a bug elsewhere): let that one through."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        detail = scrub(str(exc), secrets)
        if state.startswith("23"):
            return StoreError(f"{what}: constraint violated ({state}), a bug in sentinel: {detail}")
        if state.startswith("28"):
            return StoreError(f"{what}: authentication failed ({state}): {detail}")
        if state == "3D000":
            return StoreError(f"{what}: the database does not exist: {detail}")
        transient = state.startswith(_RETRYABLE) or isinstance(exc, asyncpg.PostgresConnectionError)
        return StoreError(f"{what}: {detail} ({state})", transient=transient)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return StoreError(f"{what}: TLS certificate rejected: {scrub(str(exc), secrets)}")
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError):
        reason = scrub(str(exc), secrets) or type(exc).__name__
        return StoreError(f"{what}: cannot reach the server: {reason}", transient=True)
    if isinstance(exc, asyncpg.InternalClientError):
        return StoreError(f"{what}: connection broken: {scrub(str(exc), secrets)}", transient=True)
    if isinstance(exc, asyncpg.InterfaceError):
        detail = scrub(str(exc), secrets)
        if "closed" in detail or "connection" in detail:
            return StoreError(f"{what}: connection lost: {detail}", transient=True)
        return StoreError(f"{what}: {detail}")
    if isinstance(exc, ValueError):  # asyncpg's reading of the URL, or of a value
        return StoreError(f"{what}: invalid url or value: {scrub(str(exc), secrets)}")
    return None


async def schema_version(conn: asyncpg.Connection) -> int:
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", VERSION_TABLE):
        return 0
    return int(await conn.fetchval(f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}"))


async def migrate(
    conn: asyncpg.Connection, where: str, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Bring the database up to date; returns how many steps ran (0 when another
    replica got there first). A database newer than ``migrations`` is refused
    before anything is taken or changed."""
    known = len(migrations)
    version = await schema_version(conn)
    refuse_newer(version, known, where)
    if version == known:
        return 0
    applied = 0
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        version = await schema_version(conn)  # again, under the lock
        refuse_newer(version, known, where)
        while version < known:
            step = migrations[version]
            async with conn.transaction():
                for statement in step.postgres:
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {VERSION_TABLE} (version, name) VALUES ($1, $2)",
                    version + 1,
                    step.name,
                )
            version += 1
            applied += 1
    finally:
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied
