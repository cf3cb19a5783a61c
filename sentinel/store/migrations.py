"""Schema migrations for both stores, from one ordered list.

``MIGRATIONS[n]`` upgrades a database from version ``n`` to ``n + 1``. Each
entry holds the same change twice, in SQLite's and in PostgreSQL's dialect; a
step is applied in one transaction together with its version record, so a
crash or a failing statement leaves the previous version whole. SQLite keeps
its version in ``PRAGMA user_version``; PostgreSQL in the ``sentinel_schema``
table (one row per applied step: version, name, when), see
:mod:`sentinel.store.postgres_schema`.

Rules for new entries (docs/storage.md, "Migrations"): append, never edit one
that has shipped; additive only (new tables, new nullable columns, new
indexes) while an older sentinel may still run on the database; dropping or
renaming what an older version reads waits for a later release (expand, then
contract).

Statements are listed one by one instead of split out of a script, so a
trigger body or a string holding ``;`` cannot be cut in half.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from sentinel.store import StoreError


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    # ``check`` is an SQL keyword, hence ``check_name``. In PostgreSQL, results carry a
    # BRIN index on time: pruning is a range delete that index finds for almost nothing.
    Migration(
        "check result history",
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
        (
            """
            CREATE TABLE results (
                check_name TEXT COLLATE "C" NOT NULL,
                type TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                duration DOUBLE PRECISION NOT NULL,
                ok SMALLINT NOT NULL,
                error TEXT,
                samples TEXT NOT NULL
            )
            """,
            "CREATE INDEX results_by_check ON results (check_name, started_at)",
            "CREATE INDEX results_by_time ON results USING brin (started_at)",
        ),
    ),
    Migration(
        "the last pings of each push heartbeat",
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
        (
            """
            CREATE TABLE heartbeats (
                name TEXT PRIMARY KEY,
                success DOUBLE PRECISION,
                start DOUBLE PRECISION,
                fail DOUBLE PRECISION,
                last_duration DOUBLE PRECISION
            )
            """,
        ),
    ),
    Migration(
        "pending and firing alerts, so a restart keeps counting their `for`",
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
        (
            """
            CREATE TABLE alerts (
                fingerprint TEXT PRIMARY KEY,
                rule TEXT NOT NULL,
                check_name TEXT NOT NULL,
                labels TEXT NOT NULL,
                state TEXT NOT NULL,
                active_since DOUBLE PRECISION,
                fired_at DOUBLE PRECISION,
                last_true DOUBLE PRECISION,
                keep_firing_since DOUBLE PRECISION,
                value DOUBLE PRECISION
            )
            """,
        ),
    ),
    Migration(
        "silences",
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
        (
            """
            CREATE TABLE silences (
                id TEXT PRIMARY KEY,
                matchers TEXT NOT NULL,
                starts_at DOUBLE PRECISION NOT NULL,
                ends_at DOUBLE PRECISION NOT NULL,
                author TEXT NOT NULL,
                comment TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )
            """,
        ),
    ),
    # Escalations under way (the policy copied at firing, and its progress), the
    # notification outbox (written before any send), and small keys such as the ack secret.
    Migration(
        "escalations, the notification outbox and keys",
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
        (
            """
            CREATE TABLE escalations (
                fingerprint TEXT PRIMARY KEY,
                progress TEXT NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL
            )
            """,
            """
            CREATE TABLE outbox (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                dedup TEXT NOT NULL UNIQUE,
                fingerprint TEXT NOT NULL,
                target TEXT NOT NULL,
                channel TEXT NOT NULL,
                address TEXT,
                notice TEXT NOT NULL,
                fallback TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                next_at DOUBLE PRECISION NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                sent_at DOUBLE PRECISION,
                error TEXT,
                ref TEXT
            )
            """,
            "CREATE INDEX outbox_open ON outbox (state, next_at)",
            "CREATE INDEX outbox_by_alert ON outbox (fingerprint, channel)",
            "CREATE TABLE keys (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
    # Incidents with their timelines, and per-check daily uptime rolled up as results
    # are written (so 90-day bars and reports never scan the raw history). PostgreSQL
    # has no rowid: ``seq`` keeps the timeline's insertion order.
    Migration(
        "incidents, their timelines and daily uptime",
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
        (
            """
            CREATE TABLE incidents (
                id TEXT PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                rule TEXT NOT NULL,
                check_name TEXT NOT NULL,
                severity TEXT NOT NULL,
                title TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                acked_at DOUBLE PRECISION,
                acked_by TEXT,
                resolved_at DOUBLE PRECISION,
                root_cause TEXT NOT NULL,
                resolution TEXT NOT NULL,
                preventive TEXT NOT NULL
            )
            """,
            "CREATE INDEX incidents_by_start ON incidents (started_at)",
            "CREATE INDEX incidents_by_alert ON incidents (fingerprint, resolved_at)",
            """
            CREATE TABLE incident_events (
                seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                incident_id TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
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
                duration_sum DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (check_name, day)
            )
            """,
            """
            INSERT INTO uptime_daily
            SELECT check_name, floor(started_at / 86400)::integer, SUM(ok), COUNT(*), SUM(duration)
            FROM results GROUP BY 1, 2
            """,
        ),
    ),
)

LATEST = len(MIGRATIONS)


def refuse_newer(version: int, known: int, where: str) -> None:
    if version > known:
        raise StoreError(
            f"{where} has schema version {version}, newer than this sentinel knows "
            f"({known}); run a newer sentinel or restore a backup"
        )


def pending(version: int, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """What opening a database at ``version`` would apply: ``"N: name"`` per step."""
    return [f"{n + 1}: {m.name}" for n, m in enumerate(migrations) if n >= version]


# -- SQLite ---------------------------------------------------------------------


async def user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


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
                for statement in migrations[version].sqlite:
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
