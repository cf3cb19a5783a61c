"""SQLite store: round trips, WAL, migrations, URL parsing, pruning."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentinel.results import Result, Sample
from sentinel.store import StoreError, open_store
from sentinel.store.migrations import LATEST
from sentinel.store.sqlite import SqliteStore

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def result(check: str, minute: int, ok: bool = True) -> Result:
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


async def test_round_trip_keeps_samples_labels_and_time(store: SqliteStore) -> None:
    """What goes in comes back equal: labelled samples, errors, aware UTC times."""
    written = [result("cache", 0), result("cache", 1, ok=False)]
    await store.add_results(written)
    back = await store.recent_results("cache")
    assert back == list(reversed(written))
    assert back[0].started_at.tzinfo is not None


async def test_recent_is_newest_first_and_limited(store: SqliteStore) -> None:
    """recent_results returns the newest N of one check only."""
    await store.add_results([result("a", m) for m in range(10)] + [result("b", 99)])
    back = await store.recent_results("a", limit=3)
    assert [r.started_at for r in back] == [T0 + timedelta(minutes=m) for m in (9, 8, 7)]


async def test_wal_mode_and_ping(store: SqliteStore) -> None:
    """The database runs in WAL mode and answers ping."""
    async with store.db.execute("PRAGMA journal_mode") as cur:
        row = await cur.fetchone()
    assert row is not None
    assert row[0] == "wal"
    assert await store.ping() is True


async def test_ping_is_false_when_closed(tmp_path: Path) -> None:
    """ping never raises; a closed store is simply not reachable."""
    s = SqliteStore(str(tmp_path / "x.db"))
    assert await s.ping() is False


async def test_prune_removes_only_older_rows(store: SqliteStore) -> None:
    """prune_results deletes rows before the cutoff and says how many."""
    await store.add_results([result("a", m) for m in range(5)])
    removed = await store.prune_results(T0 + timedelta(minutes=3))
    assert removed == 3
    assert len(await store.recent_results("a")) == 2


async def test_reopen_applies_no_migration_twice(tmp_path: Path) -> None:
    """Opening an existing database keeps its rows and its schema version."""
    path = str(tmp_path / "s.db")
    first = SqliteStore(path)
    await first.open()
    await first.add_results([result("a", 0)])
    await first.close()
    again = SqliteStore(path)
    await again.open()
    assert len(await again.recent_results("a")) == 1
    async with again.db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    await again.close()
    assert row is not None
    assert row[0] == LATEST


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer sentinel is refused with a clear reason."""
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 5}")
    db.close()
    s = SqliteStore(str(path))
    with pytest.raises(StoreError, match="newer than this sentinel knows"):
        await s.open()
    await s.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/sentinel/sentinel.db", "/var/lib/sentinel/sentinel.db"),
        ("sqlite:.state/demo.db", ".state/demo.db"),
        ("sqlite::memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    """sqlite:/// is absolute, sqlite: relative, sqlite::memory: in memory."""
    store = open_store(url)
    assert isinstance(store, SqliteStore)
    assert store._path == path


@pytest.mark.parametrize(
    "url", ["postgresql://u:hunter2@db/sentinel", "mysql://u:hunter2@db/x", "hunter2"]
)
def test_other_urls_are_refused_without_echoing_them(url: str) -> None:
    """Unsupported URLs fail with a reason that never repeats the password."""
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert "hunter2" not in str(info.value)
