"""The PostgreSQL store's connection pool and its retries (see :mod:`sentinel.store.postgres`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

import asyncpg

from sentinel.store import StoreError
from sentinel.store.postgres_schema import broken, describe, secrets_of, store_error
from sentinel.store.rollup import Rollup

T = TypeVar("T")
Conn: TypeAlias = Any  # asyncpg.Connection: asyncpg has no type hints


PING_TIMEOUT = 2.0


class PostgresPool:
    """A pool of at most ``pool_size`` connections, and :meth:`_run` to use one."""

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 4,
        force: bool = False,
        connect_timeout: float = 10.0,
        command_timeout: float = 30.0,
        retry_pauses: Sequence[float] = (0.0, 0.1, 0.5, 1.0),
    ) -> None:
        self._dsn = dsn
        self._where = describe(dsn)
        self._secrets = secrets_of(dsn)
        self._pool_size = pool_size
        self._force = force
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pauses = tuple(retry_pauses)
        self._pool: asyncpg.Pool | None = None
        self._rollup = Rollup()

    @property
    def dsn(self) -> str:
        """The URL as configured (it may hold a password: never log it)."""
        return self._dsn

    @property
    def where(self) -> str:
        """``postgresql://host:port/db``: safe to log."""
        return self._where

    def _error(self, exc: BaseException, what: str) -> BaseException:
        return store_error(exc, what, self._secrets) or exc

    async def _run(self, what: str, op: Callable[[Conn], Awaitable[T]], *, tx: bool = False) -> T:
        """``op`` on a pooled connection (in a transaction when ``tx``), retried while
        its failure is transient and pauses remain."""
        for attempt, pause in enumerate((*self._pauses, None)):
            pool = self._pool
            if pool is None:
                raise StoreError("store is not open")
            try:
                async with pool.acquire(timeout=self._connect_timeout) as conn:
                    try:
                        if not tx:
                            return await op(conn)
                        async with conn.transaction():
                            return await op(conn)
                    except Exception as exc:
                        if broken(exc):  # never hand this connection out again
                            conn.terminate()
                        raise
            except Exception as exc:
                err = store_error(exc, f"{what} on {self._where}", self._secrets)
                if err is None:
                    raise
                if not err.transient or pause is None:
                    if attempt and err.transient:
                        err = StoreError(f"{err} (after {attempt + 1} tries)", transient=True)
                    raise err from None
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def ping(self) -> bool:
        """True when the database answers within PING_TIMEOUT (/ready must not hang on
        a database that does not answer at all); never raises."""
        pool = self._pool
        if pool is None:
            return False
        try:
            async with asyncio.timeout(min(PING_TIMEOUT, self._connect_timeout)):
                async with pool.acquire() as conn:
                    return bool(await conn.fetchval("SELECT 1") == 1)
        except Exception:
            return False

    async def _execute(self, what: str, sql: str, *args: Any) -> None:
        await self._run(what, lambda c: c.execute(sql, *args))

    async def _fetch(self, what: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(what, lambda c: c.fetch(sql, *args))
