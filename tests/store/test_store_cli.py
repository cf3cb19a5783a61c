"""``sentinel migrate --check`` and ``sentinel store copy``: what would run, and all
state from SQLite to PostgreSQL and back, compared table by table."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from sentinel.cli.main import main
from sentinel.escalation.incidents import Incident, IncidentEvent
from sentinel.notify.base import AlertFacts, Notice
from sentinel.notify.outbox import Delivery
from sentinel.probes.heartbeats import Beat
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance
from sentinel.rules.state import AlertState
from sentinel.store import MOVED_KEY, StoreError, open_store
from sentinel.store.copy import copy_store, count, tables
from sentinel.store.migrations import LATEST
from sentinel.store.tables import tables_of
from tests.store.test_sqlite import T0, result


def test_migrate_check_says_what_would_run_then_nothing(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an empty store --check lists every step (exit 1) and changes nothing;
    `migrate` runs them; then --check has nothing to run (exit 0)."""
    assert main(["migrate", "--check", "--url", store_url]) == 1
    out = capsys.readouterr().out
    assert f"schema version 0 of {LATEST}" in out
    assert out.count("would run") == LATEST
    assert main(["migrate", "--check", "--url", store_url]) == 1  # still: nothing was run
    capsys.readouterr()
    assert main(["migrate", "--url", store_url]) == 0
    assert capsys.readouterr().out.count("ran ") == LATEST
    assert main(["migrate", "--check", "--url", store_url]) == 0
    assert "nothing to run" in capsys.readouterr().out


def test_migrate_check_refuses_a_newer_database(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database ahead of this sentinel: one line, exit 2."""
    assert main(["migrate", "--url", postgres_url]) == 0

    async def bump() -> None:
        conn = await asyncpg.connect(postgres_url)
        await conn.execute("INSERT INTO sentinel_schema (version, name) VALUES (42, 'future')")
        await conn.close()

    asyncio.run(bump())
    capsys.readouterr()
    assert main(["migrate", "--check", "--url", postgres_url]) == 2
    assert "schema version 42, newer than this sentinel knows" in capsys.readouterr().err


async def fill(url: str) -> None:
    """One of everything a store keeps."""
    s = open_store(url)
    await s.open()
    at = T0.timestamp()
    await s.add_results([result("api", m, ok=m % 3 != 0) for m in range(50)])
    await s.save_heartbeat("backup", Beat(T0, T0, None, 3.5))
    pending = AlertState("pending", at, None, at)
    await s.save_alert(Instance("Down", "api", (("team", "sre"),), pending, 0.0))
    await s.save_silence(Silence("s1", {"check": "db"}, T0, T0, "al", "deploy", T0))
    await s.set_key_once("ack_secret", "k" * 64)
    facts = AlertFacts(fingerprint="fp", rule="Down", check="api", severity="high", since=at)
    notice = Notice(kind="firing", at=at, alert=facts)
    sent = Delivery("d1", "fp", "t", "slack", "#ops", notice, at, at, state="sent", ref={"ts": "1"})
    waiting = Delivery("d2", "fp", "t", "sms", "+15550100001", notice, at, at)
    await s.commit_notifications([("fp", {"step": 1})], [sent, waiting], at)
    inc = Incident("INC-1", "fp", "Down", "api", "high", "api down", at, acked_at=at + 5)
    same_time = [IncidentEvent(at, "fired", "first"), IncidentEvent(at, "notified", "second")]
    await s.save_incident(inc, same_time)
    await s.write_up("INC-1", {"root_cause": "disk full"}, [IncidentEvent(at + 9, "note", "n")])
    await s.save_slo_minutes([("api-availability", int(at // 60) - 600, 50, 60)])
    await s.roll_up_slo_minutes(int(at // 60) - 300)  # an hour rolled up (slo_hours)
    await s.save_slo_minutes([("api-availability", int(at // 60), 59, 60)], "m1")
    await s.save_holds([("fp", {"alertname": "Down", "check": "api"}, at)], [], at - 60)
    await s.close()
    # a minute an older version wrote (member-less, slo_minutes): counted with m1's
    with sqlite3.connect(url.removeprefix("sqlite:")) as db:
        db.execute("INSERT INTO slo_minutes VALUES ('api-availability', ?, 1, 2)", (int(at // 60),))


async def snapshot(url: str) -> dict[str, tuple[int, int]]:
    db = tables_of(open_store(url))
    await db.connect()
    try:
        return {t.name: ((c := await count(db, t)).rows, c.checksum) for t in tables(None)}
    finally:
        await db.close()


async def test_round_trip_sqlite_postgresql_sqlite_is_identical(
    tmp_path: Path, postgres_url: str
) -> None:
    """SQLite -> PostgreSQL -> SQLite gives the same rows in every table; copying twice
    changes nothing; the sources are marked as moved and refuse to open."""
    first, back = f"sqlite:{tmp_path}/a.db", f"sqlite:{tmp_path}/b.db"
    await fill(first)
    before = await snapshot(first)
    assert all(rows for rows, _ in before.values()), before
    lines = await copy_store(first, postgres_url)
    assert all(line.same for line in lines)
    assert {line.table: (line.source.rows, line.source.checksum) for line in lines} == before
    again = await copy_store(first, postgres_url)  # idempotent
    assert [(x.table, x.destination.rows, x.destination.checksum) for x in again] == [
        (x.table, x.destination.rows, x.destination.checksum) for x in lines
    ]
    with pytest.raises(StoreError, match="was moved to postgresql://"):
        await open_store(first).open()
    await copy_store(postgres_url, back)
    assert await snapshot(back) == before
    with pytest.raises(StoreError, match=f"moved to {tmp_path}/b.db"):
        await open_store(postgres_url).open()
    await copy_store(postgres_url, first)  # back onto the store that was moved away
    assert await snapshot(first) == before
    reopened = open_store(first)
    await reopened.open()  # no longer marked: it is the live store again
    await reopened.close()
    # what sentinel reads after the move is what it wrote before it
    s = open_store(back)
    await s.open()
    try:
        inc = await s.incident("INC-1")
        assert inc is not None
        assert [e.text for e in inc[1]] == ["first", "second", "n"]
        assert [d.dedup for d in await s.open_deliveries()] == ["d2"]
        assert [a.state.state for a in await s.load_alerts()] == ["pending"]
        assert [r[2:] for r in await s.load_slo_minutes(0)] == [(60, 62)]  # the SLO budget
        assert [fp for fp, _, _ in await s.load_holds(0.0)] == ["fp"]  # a hold under way
        assert await s.get_key(MOVED_KEY) is None
        added = await s.commit_notifications(
            [], [Delivery("d3", "fp", "t", "c", None, Notice(kind="test", at=1.0), 1.0, 1.0)], 1.0
        )
        assert added[0].id is not None
        assert added[0].id > 2
    finally:
        await s.close()


def test_store_copy_prints_rows_and_checksums_per_table(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command prints both sides per table and names where the source went."""
    src = f"sqlite:{tmp_path}/a.db"
    asyncio.run(fill(src))
    assert main(["store", "copy", "--from", src, "--to", postgres_url, "--since", "3650d"]) == 0
    out = capsys.readouterr().out
    assert "results" in out
    assert "incident_events" in out
    assert out.count(" ok") >= 10
    assert "is marked as moved to postgresql://127.0.0.1:5432/" in out
    assert main(["store", "copy", "--from", src, "--to", src]) == 2
    assert "same store" in capsys.readouterr().err


def test_store_copy_never_prints_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A destination that refuses: one line on stderr, exit 2, no password."""
    src = f"sqlite:{tmp_path}/a.db"
    assert (
        main(["store", "copy", "--from", src, "--to", "postgresql://u:hunter2@127.0.0.1:1/x"]) == 2
    )
    err = capsys.readouterr().err
    assert "cannot" in err
    assert "hunter2" not in err
