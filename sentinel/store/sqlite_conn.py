"""The SQLite store's one connection, its transactions and single writes (see
:mod:`sentinel.store.sqlite`)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiosqlite

from sentinel.store import StoreError
from sentinel.store.rollup import Rollup


class SqliteConnection:
    """One aiosqlite connection (one worker thread) shared by every task, and a lock
    that keeps each transaction, and each single write, to itself."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0, force: bool = False) -> None:
        self._path = path
        self._force = force
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._db: aiosqlite.Connection | None = None
        # One connection serves every task: a transaction holds this lock from BEGIN
        # to COMMIT, and single writes take it too, so no write joins (and is rolled
        # back with) another task's transaction.
        self._lock = asyncio.Lock()
        self._rollup = Rollup()

    @property
    def path(self) -> str:
        return self._path

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    @contextlib.asynccontextmanager
    async def _transaction(
        self, begin: str = "BEGIN IMMEDIATE"
    ) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self.db
            try:
                await db.execute(begin)
            except BaseException:
                # Cancelled while BEGIN waited for the connection's thread: it runs there
                # anyway. Queue its ROLLBACK behind it, or the next BEGIN finds a
                # transaction already open.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await db.execute("ROLLBACK")
                raise
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException:
                # If COMMIT itself went through before a cancellation arrived, there is
                # nothing to roll back: let the original error through, not this one.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await db.execute("ROLLBACK")
                raise

    async def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One statement on its own (autocommit), never inside another task's transaction."""
        async with self._lock:
            cur = await self.db.execute(sql, tuple(args))
            count = cur.rowcount
            await cur.close()
            return count

    async def ping(self) -> bool:
        try:
            async with self.db.execute("SELECT 1") as cur:
                return (await cur.fetchone()) is not None
        except Exception:
            return False
