"""SQLite store: round trips, WAL, migrations, URL parsing, pruning."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from sentinel.heartbeats import Beat
from sentinel.notify.base import AlertFacts, Notice
from sentinel.notify.outbox import Delivery, State
from sentinel.results import Result, Sample
from sentinel.rules.engine import Instance
from sentinel.rules.state import AlertState
from sentinel.store import StoreError, open_store
from sentinel.store.migrations import LATEST, MIGRATIONS, migrate, user_version
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


async def test_round_trip_keeps_samples_labels_and_time(store: SqliteStore) -> None:
    """What goes in comes back equal: labelled samples, errors, aware UTC times."""
    written = [result("cache", 0), result("cache", 1, ok=False)]
    await store.add_results(written)
    back = await store.recent_results("cache")
    assert back == list(reversed(written))
    assert back[0].started_at.tzinfo is not None
    assert back[0].started_at.utcoffset() == timedelta(0)
    assert back[1].samples[2].labels == (("key", "image-queue"),)


async def test_round_trip_is_exact_for_any_sample_shape(store: SqliteStore) -> None:
    """Samples that are not the runner's up/duration prefix (a scraped up{job}, odd order, none) read back unchanged."""
    start = datetime(2026, 5, 1, 8, 0, 0, 123457, tzinfo=UTC)
    shapes: list[tuple[Sample, ...]] = [
        (),
        (Sample("up", 1.0),),
        (Sample("up", 1.0, (("job", "api"),)), Sample("duration_seconds", 0.5)),
        (Sample("duration_seconds", 0.5), Sample("up", 1.0)),
        (Sample("up", 0.0), Sample("duration_seconds", 0.5)),  # up disagrees with ok
        (Sample("up", 1.0), Sample("duration_seconds", 0.25)),  # duration disagrees
        (Sample("x", -1.5e300, (("a", "1"), ("b", 'quote " and ]'))),),
    ]
    written = [
        Result("odd", "prometheus", True, start + timedelta(seconds=i), 0.5, None, samples)
        for i, samples in enumerate(shapes)
    ]
    await store.add_results(written)
    assert await store.recent_results("odd") == list(reversed(written))


async def test_recent_is_newest_first_and_limited(store: SqliteStore) -> None:
    """recent_results returns the newest N of one check only."""
    await store.add_results([result("a", m) for m in range(10)] + [result("b", 99)])
    back = await store.recent_results("a", limit=3)
    assert [r.started_at for r in back] == [T0 + timedelta(minutes=m) for m in (9, 8, 7)]
    assert await store.recent_results("nobody") == []


async def test_adding_nothing_is_a_no_op(store: SqliteStore) -> None:
    """An empty batch writes nothing and does not fail."""
    await store.add_results([])
    assert await store.recent_results("a") == []


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


async def test_prune_removes_only_older_rows(store: SqliteStore) -> None:
    """prune_results deletes rows before the cutoff and says how many."""
    await store.add_results([result("a", m) for m in range(5)])
    removed = await store.prune_results(T0 + timedelta(minutes=3))
    assert removed == 3
    assert [r.started_at for r in await store.recent_results("a")] == [
        T0 + timedelta(minutes=4),
        T0 + timedelta(minutes=3),
    ]
    assert await store.prune_results(T0) == 0


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
    broken = (*MIGRATIONS, ("CREATE TABLE extra (x INTEGER)", "NOT SQL AT ALL"))
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


def test_postgresql_is_not_available_yet() -> None:
    """A postgresql URL is understood but refused until that store exists."""
    with pytest.raises(StoreError, match="postgresql storage is not available yet"):
        open_store("postgresql://sentinel@db/sentinel")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@db/sentinel",
        "postgresql+asyncpg://u:hunter2@db/sentinel",
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


async def test_heartbeats_round_trip(store: SqliteStore) -> None:
    """The last pings of a heartbeat are kept and replaced, times exact and aware."""
    first = Beat(success=T0, start=None, fail=None, last_duration=None)
    await store.save_heartbeat("backup", first)
    later = Beat(
        success=T0 + timedelta(days=1), start=T0, fail=T0 + timedelta(hours=2), last_duration=12.5
    )
    await store.save_heartbeat("backup", later)
    await store.save_heartbeat("cron", first)
    assert await store.load_heartbeats() == {"backup": later, "cron": first}


async def test_alerts_round_trip(store: SqliteStore) -> None:
    """Pending and firing alerts are kept whole, replaced on change and deleted on resolution."""
    pending = Instance(
        "QueueBacklog", "cache", (("key", "q"),), AlertState("pending", 10.0, None, 10.0), 1001.0
    )
    await store.save_alert(pending)
    firing = Instance(
        "QueueBacklog", "cache", (("key", "q"),), AlertState("firing", 10.0, 70.0, 70.0), 1500.0
    )
    await store.save_alert(firing)
    other = Instance("ServiceDown", "api", (), AlertState("pending", 5.0, None, 5.0), 0.0)
    await store.save_alert(other)
    assert sorted(await store.load_alerts(), key=lambda i: i.rule) == [firing, other]
    await store.delete_alert(other.fingerprint)
    assert await store.load_alerts() == [firing]


async def test_pruning_also_drops_old_rollups_and_finished_outbox_rows(tmp_path: Path) -> None:
    """History pruning takes daily uptime rows and delivered notices with it, and keeps
    notices still waiting to be sent."""
    store = SqliteStore(str(tmp_path / "p.db"))
    await store.open()
    try:
        await store.add_results([result("a", 0), result("a", 3 * 24 * 60)])
        old = T0.timestamp()

        def row(key: str, state: State) -> Delivery:
            notice = Notice(kind="test", at=old)
            return Delivery(key, "", "t", "c", None, notice, old, old, state=state)

        await store.commit_notifications([], [row("sent", "sent"), row("open", "pending")], old)
        await store.prune_results(T0 + timedelta(days=1))
        days = await store.uptime_days(0)
        assert [d for d, *_ in days["a"]] == [int((T0 + timedelta(days=3)).timestamp() // 86400)]
        assert [d.dedup for d in await store.open_deliveries()] == ["open"]
        assert await store.notification_counts(0, old + 1) == {("c", "pending"): 1}
    finally:
        await store.close()


async def test_thread_refs_are_kept_per_firing(store: SqliteStore) -> None:
    """Two outages of one alert posted two Slack messages: each firing keeps its own
    first message as its thread, keyed as the dispatcher asks (Delivery.thread_key);
    a row written before firings had an identity is keyed by the fingerprint."""
    at = T0.timestamp()

    def sent(key: str, since: float | None, ts: str) -> Delivery:
        alert = AlertFacts(fingerprint="fp", rule="R", check="c", severity="high", since=since)
        notice = Notice(kind="firing", at=at, alert=alert)
        return Delivery(
            key, "fp", "t", "slack", "#ops", notice, at, at, state="sent", ref={"ts": ts}
        )

    rows = [sent("1", at, "1.0"), sent("1b", at, "9.9"), sent("2", at + 600, "2.0")]
    rows.append(sent("0", None, "0.0"))
    await store.commit_notifications([], rows, at)
    assert await store.thread_refs() == {
        rows[0].thread_key: {"ts": "1.0"},
        rows[2].thread_key: {"ts": "2.0"},
        ("fp", "slack", "#ops"): {"ts": "0.0"},
    }
    assert rows[0].thread_key != rows[2].thread_key
