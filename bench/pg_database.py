"""A PostgreSQL database made for one benchmark run and dropped after it, and the CPU
its server backends have used (from /proc: the server must run on this machine)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DSN = os.environ.get("SENTINEL_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of ``sentinel_bench_<pid>_<random>``, dropped (connections and all) after."""
    name = f"sentinel_bench_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(DSN)._replace(path="/" + name))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ticks(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_seconds(url: str) -> float:
    """CPU seconds used so far by the server processes connected to ``url``'s database
    (other than the one asking)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid != pg_backend_pid()"
        )
    finally:
        await conn.close()
    total = 0.0
    for row in rows:
        with contextlib.suppress(OSError):  # gone meanwhile
            total += await asyncio.to_thread(ticks, int(row["pid"]))
    return total


def backend_cpu(url: str) -> float:
    return asyncio.run(backend_seconds(url))
