"""Raw table access to either store, for ``sentinel migrate`` and ``sentinel store
copy``: read a table in batches, write rows, one transaction, the schema version.

SQL is written once with ``?`` placeholders; the PostgreSQL side numbers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import aiosqlite
import asyncpg

from sentinel.store import Store, StoreError
from sentinel.store import migrations as mig
from sentinel.store import postgres_schema as pgs
from sentinel.store.postgres import PostgresStore
from sentinel.store.sqlite import SqliteStore

BATCH = 5_000
Row = tuple[Any, ...]


class Tables(Protocol):
    where: str
    seq: str
    """The column that keeps insertion order (SQLite's rowid, PostgreSQL's seq)."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def version(self) -> int:
        """The schema version (0: nothing there yet); no change made."""
        ...

    def read(self, sql: str, args: Sequence[Any] = ()) -> AsyncIterator[list[Row]]: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Row]) -> None: ...

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]: ...

    async def after_copy(self, table: str) -> None:
        """Fix-ups after rows came in with their ids (PostgreSQL's identity counters)."""
        ...


class SqliteTables:
    def __init__(self, path: str) -> None:
        self.path = path
        self.where = path
        self.seq = "rowid"
        self._db: aiosqlite.Connection | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, "not connected"
        return self._db

    async def connect(self) -> None:
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._db.execute("PRAGMA busy_timeout = 5000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from None

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def version(self) -> int:
        if self.path == ":memory:" or not await asyncio.to_thread(os.path.exists, self.path):
            return 0  # and a file that is not there stays not there
        db = await aiosqlite.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return await mig.user_version(db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from None
        finally:
            await db.close()

    async def read(self, sql: str, args: Sequence[Any] = ()) -> AsyncIterator[list[Row]]:
        async with self.db.execute(sql, tuple(args)) as cur:
            while rows := await cur.fetchmany(BATCH):
                yield [tuple(r) for r in rows]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.db.execute(sql, tuple(args))

    async def executemany(self, sql: str, rows: Sequence[Row]) -> None:
        await self.db.executemany(sql, rows)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            await self.db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error, ValueError):
                await self.db.execute("ROLLBACK")
            raise

    async def after_copy(self, table: str) -> None:
        return None  # AUTOINCREMENT follows explicit ids on its own


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    count = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


class PostgresTables:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.where = pgs.describe(dsn)
        self.seq = "seq"
        self._secrets = pgs.secrets_of(dsn)
        self._conn: Any = None

    async def _connect(self) -> Any:
        try:
            return await asyncpg.connect(self.dsn, timeout=10)
        except Exception as exc:
            raise (
                pgs.store_error(exc, f"cannot connect to {self.where}", self._secrets) or exc
            ) from None

    async def connect(self) -> None:
        self._conn = await self._connect()

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def version(self) -> int:
        conn = await self._connect()
        try:
            return await pgs.schema_version(conn)
        finally:
            await conn.close()

    async def read(self, sql: str, args: Sequence[Any] = ()) -> AsyncIterator[list[Row]]:
        async with self._conn.transaction(readonly=True):
            cur = await self._conn.cursor(numbered(sql), *args)
            while rows := await cur.fetch(BATCH):
                yield [tuple(r) for r in rows]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self._conn.execute(numbered(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Row]) -> None:
        await self._conn.executemany(numbered(sql), rows)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._conn.transaction():
            yield

    async def after_copy(self, table: str) -> None:
        if table == "outbox":
            await self._conn.execute(
                "SELECT setval(pg_get_serial_sequence('outbox', 'id'), "
                "GREATEST((SELECT MAX(id) FROM outbox), 1))"
            )


def tables_of(store: Store) -> Tables:
    if isinstance(store, SqliteStore):
        return SqliteTables(store.path)
    if isinstance(store, PostgresStore):
        return PostgresTables(store.dsn)
    raise StoreError(f"no table access for {type(store).__name__}")
