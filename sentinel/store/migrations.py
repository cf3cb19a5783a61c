"""Schema migrations for the SQLite store, tracked in ``PRAGMA user_version``.

``MIGRATIONS[n]`` upgrades a database from version ``n`` to ``n + 1``; each is a
list of statements applied in one transaction together with the new
``user_version``, so a crash or a failing statement leaves the previous
version whole. Append new entries; never edit one that has shipped.

Statements are listed one by one instead of split out of a script, so a
trigger body or a string holding ``;`` cannot be cut in half.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence

import aiosqlite

from sentinel.store import StoreError

Migration = tuple[str, ...]

MIGRATIONS: tuple[Migration, ...] = (
    # 1: check result history. ``check`` is an SQL keyword, hence ``check_name``.
    (
        """
        CREATE TABLE results (
            check_name TEXT NOT NULL,
            type TEXT NOT NULL,
            started_at REAL NOT NULL,
            duration REAL NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT,
            samples TEXT NOT NULL
        )
        """,
        "CREATE INDEX results_by_check ON results (check_name, started_at)",
        "CREATE INDEX results_by_time ON results (started_at)",
    ),
    # 2: the last pings of each push heartbeat, so a restart remembers them.
    (
        """
        CREATE TABLE heartbeats (
            name TEXT PRIMARY KEY,
            success REAL,
            start REAL,
            fail REAL,
            last_duration REAL
        )
        """,
    ),
    # 3: pending and firing alerts, so a restart keeps counting their `for`.
    (
        """
        CREATE TABLE alerts (
            fingerprint TEXT PRIMARY KEY,
            rule TEXT NOT NULL,
            check_name TEXT NOT NULL,
            labels TEXT NOT NULL,
            state TEXT NOT NULL,
            active_since REAL,
            fired_at REAL,
            last_true REAL,
            keep_firing_since REAL,
            value REAL
        )
        """,
    ),
    # 4: silences created through the API or `sentinel silence`.
    (
        """
        CREATE TABLE silences (
            id TEXT PRIMARY KEY,
            matchers TEXT NOT NULL,
            starts_at REAL NOT NULL,
            ends_at REAL NOT NULL,
            author TEXT NOT NULL,
            comment TEXT NOT NULL,
            created_at REAL NOT NULL
        )
        """,
    ),
    # 5: escalations under way (the policy copied at firing, and its progress), the
    # notification outbox (written before any send), and small keys such as the ack secret.
    (
        """
        CREATE TABLE escalations (
            fingerprint TEXT PRIMARY KEY,
            progress TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dedup TEXT NOT NULL UNIQUE,
            fingerprint TEXT NOT NULL,
            target TEXT NOT NULL,
            channel TEXT NOT NULL,
            address TEXT,
            notice TEXT NOT NULL,
            fallback TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_at REAL NOT NULL,
            created_at REAL NOT NULL,
            sent_at REAL,
            error TEXT,
            ref TEXT
        )
        """,
        "CREATE INDEX outbox_open ON outbox (state, next_at)",
        "CREATE INDEX outbox_by_alert ON outbox (fingerprint, channel)",
        "CREATE TABLE keys (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # 6: incidents with their timelines, and per-check daily uptime rolled up as results
    # are written (so 90-day bars and reports never scan the raw history).
    (
        """
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            rule TEXT NOT NULL,
            check_name TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            started_at REAL NOT NULL,
            acked_at REAL,
            acked_by TEXT,
            resolved_at REAL,
            root_cause TEXT NOT NULL,
            resolution TEXT NOT NULL,
            preventive TEXT NOT NULL
        )
        """,
        "CREATE INDEX incidents_by_start ON incidents (started_at)",
        "CREATE INDEX incidents_by_alert ON incidents (fingerprint, resolved_at)",
        """
        CREATE TABLE incident_events (
            incident_id TEXT NOT NULL,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            detail TEXT NOT NULL
        )
        """,
        "CREATE INDEX incident_events_by_incident ON incident_events (incident_id, at)",
        """
        CREATE TABLE uptime_daily (
            check_name TEXT NOT NULL,
            day INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            total INTEGER NOT NULL,
            duration_sum REAL NOT NULL,
            PRIMARY KEY (check_name, day)
        )
        """,
        """
        INSERT INTO uptime_daily
        SELECT check_name, CAST(started_at / 86400 AS INTEGER), SUM(ok), COUNT(*), SUM(duration)
        FROM results GROUP BY 1, 2
        """,
    ),
)

LATEST = len(MIGRATIONS)


async def user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def refuse_newer(version: int, known: int, where: str) -> None:
    if version > known:
        raise StoreError(
            f"{where} has schema version {version}, newer than this sentinel knows "
            f"({known}); run a newer sentinel or restore a backup"
        )


async def migrate(
    db: aiosqlite.Connection,
    where: str,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring ``db`` (opened with ``isolation_level=None``) up to date; returns how many ran.

    Each step takes the write lock (``BEGIN IMMEDIATE``) and re-reads the version
    under it, so two processes opening one new file do not both create the schema.
    """
    known = len(migrations)
    applied = 0
    version = await user_version(db)
    refuse_newer(version, known, where)
    while version < known:
        await db.execute("BEGIN IMMEDIATE")
        try:
            version = await user_version(db)
            refuse_newer(version, known, where)
            if version < known:
                for statement in migrations[version]:
                    await db.execute(statement)
                version += 1
                await db.execute(f"PRAGMA user_version = {version:d}")
                applied += 1
            await db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error, ValueError):
                await db.execute("ROLLBACK")
            raise
    return applied
