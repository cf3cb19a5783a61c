"""SQLite store: round trips, WAL, migrations, URL parsing, pruning."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from sentinel.probes.results import Result, Sample
from sentinel.store import StoreError, open_store
from sentinel.store.migrations import LATEST, MIGRATIONS, Migration, migrate, user_version
from sentinel.store.sqlite import SqliteStore

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def result(check: str, minute: int, ok: bool = True) -> Result:
    """A result shaped as the runner makes them: ``up`` and ``duration_seconds`` first."""
    return Result(
        check=check,
        type="redis",
        ok=ok,
        started_at=T0 + timedelta(minutes=minute),
        duration=0.012,
        error=None if ok else "connection refused",
        samples=(
            Sample("up", float(ok)),
            Sample("duration_seconds", 0.012),
            Sample("key_length", 1001.0, (("key", "image-queue"),)),
        ),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "nested" / "state.db"))
    await s.open()
    yield s
    await s.close()


async def test_wal_mode_and_ping(store: SqliteStore) -> None:
    """The database runs in WAL mode with synchronous=NORMAL and answers ping."""
    async with store.db.execute("PRAGMA journal_mode") as cur:
        mode = await cur.fetchone()
    async with store.db.execute("PRAGMA synchronous") as cur:
        sync = await cur.fetchone()
    assert mode is not None
    assert mode[0] == "wal"
    assert sync is not None
    assert sync[0] == 1  # NORMAL
    assert await store.ping() is True


async def test_ping_is_false_when_not_open(tmp_path: Path) -> None:
    """ping never raises; a store never opened or already closed is simply not reachable."""
    s = SqliteStore(str(tmp_path / "x.db"))
    assert await s.ping() is False
    await s.open()
    await s.close()
    assert await s.ping() is False


async def test_reopen_applies_no_migration_twice(tmp_path: Path) -> None:
    """Opening an existing database keeps its rows and its schema version, and runs nothing."""
    path = str(tmp_path / "s.db")
    first = SqliteStore(path)
    await first.open()
    await first.add_results([result("a", 0)])
    await first.close()
    again = SqliteStore(path)
    await again.open()
    try:
        assert len(await again.recent_results("a")) == 1
        assert await user_version(again.db) == LATEST
        assert await migrate(again.db, path) == 0
    finally:
        await again.close()


async def test_a_failing_migration_leaves_the_previous_version_whole(tmp_path: Path) -> None:
    """Each migration is one transaction: a bad statement undoes that step and its version bump."""
    broken = (
        *MIGRATIONS,
        Migration("broken", ("CREATE TABLE extra (x INTEGER)", "NOT SQL AT ALL"), ()),
    )
    db = await aiosqlite.connect(str(tmp_path / "m.db"), isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(db, "m.db", broken)
        assert await user_version(db) == LATEST
        async with db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
            tables = {row[0] for row in await cur.fetchall()}
        assert "extra" not in tables  # the broken step left nothing
        assert {"results", "heartbeats", "alerts", "silences", "outbox", "keys"} <= tables
        assert not db.in_transaction
    finally:
        await db.close()


async def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    """A database from a newer sentinel is refused with a clear reason, before WAL changes it."""
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {LATEST + 5}")
    db.commit()
    db.close()
    s = SqliteStore(str(path))
    with pytest.raises(StoreError, match=f"schema version {LATEST + 5}, newer than this sentinel"):
        await s.open()
    assert await s.ping() is False  # nothing left open
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        db.close()


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    """Opening garbage fails with StoreError and leaves no connection behind."""
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    s = SqliteStore(str(path))
    with pytest.raises(StoreError, match="cannot open"):
        await s.open()
    assert await s.ping() is False


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/sentinel/sentinel.db", "/var/lib/sentinel/sentinel.db"),
        ("sqlite:.state/demo.db", ".state/demo.db"),
        ("SQLite:demo.db", "demo.db"),
        ("sqlite::memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    """sqlite:/// is absolute, sqlite: relative, sqlite::memory: in memory."""
    store = open_store(url)
    assert isinstance(store, SqliteStore)
    assert store.path == path


async def test_relative_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:rel/x.db creates rel/x.db under the current directory."""
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:rel/x.db")
    await store.open()
    await store.close()
    assert (tmp_path / "rel" / "x.db").is_file()


async def test_memory_url_opens_and_keeps_results_while_open() -> None:
    """sqlite::memory: is a working store for the life of its connection."""
    store = open_store("sqlite::memory:")
    await store.open()
    try:
        await store.add_results([result("a", 0)])
        assert await store.recent_results("a") == [result("a", 0)]
    finally:
        await store.close()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:hunter2@db/x",
        "hunter2",
        "hunter2@db:5432/sentinel",
        "u:hunter2@db/sentinel",
        "sqlite://u:hunter2@db/x",
        "",
    ],
)
def test_other_urls_are_refused_without_echoing_them(url: str) -> None:
    """Unsupported URLs fail with a reason that never repeats the password."""
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("url", ["sqlite:", "sqlite:///", "sqlite://relative/x.db"])
def test_sqlite_urls_without_a_usable_path_are_refused(url: str) -> None:
    """An sqlite URL must name a file: absolute after ///, or relative after a single colon."""
    with pytest.raises(StoreError, match="sqlite url"):
        open_store(url)


async def test_a_write_cancelled_while_its_begin_runs_leaves_no_transaction_open(
    store: SqliteStore,
) -> None:
    """A task cancelled while its BEGIN is on the connection's thread (a daemon stopping
    its background saves): the BEGIN still runs there, and is rolled back, so the next
    write (the history's last flush) does not fail with "cannot start a transaction
    within a transaction" (seen when the daemon tests ran on a fake clock)."""
    task = asyncio.create_task(store.add_results([result("api", 0)]))
    await asyncio.sleep(0)  # the task now waits for its BEGIN
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await store.add_results([result("api", 1)])
    stored = await store.recent_results("api", limit=5)
    assert [r.started_at for r in stored] == [T0 + timedelta(minutes=1)]
