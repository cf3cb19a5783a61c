"""The embedded store: one SQLite file in WAL mode, reached through aiosqlite.

Rows are encoded as in :mod:`sentinel.store.codec`, the same for both stores.
Split like the PostgreSQL store: the connection and its transactions in
:mod:`~sentinel.store.sqlite_conn`, history and incidents in
:mod:`~sentinel.store.sqlite_history`; here opening, closing, and the state the
daemon keeps (alerts, silences, escalations and the outbox, heartbeats, SLO
minutes, location views, keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from sentinel.cluster.quorum import View
from sentinel.notify.base import firing_id
from sentinel.notify.outbox import OPEN, Delivery
from sentinel.probes.heartbeats import Beat
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance
from sentinel.store import MOVED_KEY, StoreError, refuse_moved
from sentinel.store.codec import (
    ALERT_COLUMNS,
    END_KEY,
    OUTBOX_COLUMNS,
    SILENCE_COLUMNS,
    SPOKE_KEY,
    VIEW_COLUMNS,
    alert_of,
    alert_row,
    delivery_of,
    delivery_row,
    delivery_update,
    dt,
    dumps,
    loads,
    shared_rows,
    shared_times,
    silence_of,
    silence_row,
    ts,
    view_of,
)
from sentinel.store.migrations import LATEST, migrate, refuse_newer, user_version
from sentinel.store.sqlite_slo import SqliteSlo

_CHUNK = 500  # parameters per IN (...) list, well under SQLite's limit


async def _write_alerts(
    db: aiosqlite.Connection, alerts: Sequence[Instance], deleted: Sequence[str]
) -> None:
    """Inside the caller's transaction: delete ``deleted``, insert or replace ``alerts``."""
    if deleted:
        await db.executemany("DELETE FROM alerts WHERE fingerprint = ?", [(fp,) for fp in deleted])
    if alerts:
        await db.executemany(
            f"INSERT OR REPLACE INTO alerts ({ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [alert_row(a) for a in alerts],
        )


class SqliteStore(SqliteSlo):
    """History in one SQLite file (or ``:memory:``); one connection, one worker thread."""

    async def open(self) -> None:
        """Connect, switch to WAL and run pending migrations; StoreError on any failure."""
        if self._db is not None:
            return
        if self._path != ":memory:":
            try:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory of {self._path}: {exc.strerror}"
                ) from None
        connection = aiosqlite.connect(self._path, isolation_level=None)
        try:
            self._db = await connection
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread without waiting: wait here, or it reports
            # to a loop that a failed start has already closed (a traceback at exit).
            worker = getattr(connection, "_thread", None)
            if worker is not None:
                await asyncio.to_thread(worker.join, 5.0)
            raise StoreError(f"cannot open {self._path}: {exc}") from None
        try:
            db = self._db
            await db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms:d}")
            # Refuse a newer schema before anything (WAL included) changes the file.
            refuse_newer(await user_version(db), LATEST, self._path)
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await migrate(db, self._path)
            if not self._force:
                refuse_moved(self._path, await self.get_key(MOVED_KEY))
        except BaseException as exc:
            await self.close()
            if isinstance(exc, sqlite3.Error):
                # Another process holding the file is the one failure waiting can fix.
                busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
                raise StoreError(f"cannot open {self._path}: {exc}", transient=busy) from None
            raise

    async def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                await self.flush_rollup()
            db, self._db = self._db, None
            await db.close()

    async def save_heartbeat(self, name: str, beat: Beat) -> None:
        await self._write(
            "INSERT INTO heartbeats (name, success, start, fail, last_duration) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET success = excluded.success, start = excluded.start, "
            "fail = excluded.fail, last_duration = excluded.last_duration",
            (name, ts(beat.success), ts(beat.start), ts(beat.fail), beat.last_duration),
        )

    async def load_heartbeats(self) -> dict[str, Beat]:
        async with self.db.execute(
            "SELECT name, success, start, fail, last_duration FROM heartbeats"
        ) as cur:
            rows = await cur.fetchall()
        return {
            name: Beat(dt(success), dt(start), dt(fail), last_duration)
            for name, success, start, fail, last_duration in rows
        }

    async def save_alert(self, alert: Instance) -> None:
        await self._write(
            f"INSERT OR REPLACE INTO alerts ({ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            alert_row(alert),
        )

    async def delete_alert(self, fingerprint: str) -> None:
        await self._write("DELETE FROM alerts WHERE fingerprint = ?", (fingerprint,))

    async def save_alerts(self, alerts: Sequence[Instance], deleted: Sequence[str]) -> None:
        if not alerts and not deleted:
            return
        async with self._transaction() as db:
            await _write_alerts(db, alerts, deleted)

    async def load_alerts(self) -> list[Instance]:
        async with self.db.execute(f"SELECT {ALERT_COLUMNS} FROM alerts") as cur:
            return [alert_of(row) for row in await cur.fetchall()]

    async def load_external(
        self, fingerprints: Sequence[str], sources: Sequence[str]
    ) -> tuple[dict[str, Instance], dict[str, float], dict[str, float]]:
        wanted = list(fingerprints)
        names = [END_KEY + fp for fp in wanted] + [SPOKE_KEY + s for s in sources]
        rows: list[Any] = []
        keys: list[Any] = []
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i : i + _CHUNK]
            async with self.db.execute(
                f"SELECT {ALERT_COLUMNS} FROM alerts WHERE fingerprint IN "
                f"({', '.join('?' * len(part))})",
                part,
            ) as cur:
                rows += await cur.fetchall()
        for i in range(0, len(names), _CHUNK):
            part = names[i : i + _CHUNK]
            async with self.db.execute(
                f"SELECT name, value FROM keys WHERE name IN ({', '.join('?' * len(part))})", part
            ) as cur:
                keys += await cur.fetchall()
        return {str(r[0]): alert_of(r) for r in rows}, *shared_times(keys)

    async def save_external(
        self,
        alerts: Sequence[Instance],
        deleted: Sequence[str],
        ended: Mapping[str, float],
        spoke: Mapping[str, float],
    ) -> None:
        keys = shared_rows(ended, spoke)
        async with self._transaction() as db:
            await _write_alerts(db, alerts, deleted)
            if keys:
                await db.executemany(
                    "INSERT INTO keys VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = "
                    "CASE WHEN CAST(value AS REAL) < CAST(excluded.value AS REAL) "
                    "THEN excluded.value ELSE value END",
                    keys,
                )

    async def prune_external(self, before: float) -> int:
        return await self._write(
            "DELETE FROM keys WHERE substr(name, 1, ?) = ? AND CAST(value AS REAL) < ?",
            (len(END_KEY), END_KEY, before),
        )

    async def save_silence(self, silence: Silence) -> None:
        await self._write(
            f"INSERT OR REPLACE INTO silences ({SILENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            silence_row(silence),
        )

    async def load_silences(self) -> list[Silence]:
        async with self.db.execute(
            f"SELECT {SILENCE_COLUMNS} FROM silences ORDER BY created_at"
        ) as cur:
            return [silence_of(row) for row in await cur.fetchall()]

    # -- escalations and the outbox ------------------------------------------

    async def commit_notifications(
        self,
        escalations: Sequence[tuple[str, dict[str, Any] | None]],
        deliveries: Sequence[Delivery],
        now: float,
    ) -> list[Delivery]:
        """In one transaction: escalation progress (None deletes it) and new outbox rows.

        Rows whose ``dedup`` key exists already are skipped; returns the rows that
        were new, with their ids.
        """
        added: list[Delivery] = []
        async with self._transaction() as db:
            for fp, progress in escalations:
                if progress is None:
                    await db.execute("DELETE FROM escalations WHERE fingerprint = ?", (fp,))
                else:
                    await db.execute(
                        "INSERT OR REPLACE INTO escalations VALUES (?, ?, ?)",
                        (fp, dumps(progress), now),
                    )
            for d in deliveries:
                cur = await db.execute(
                    f"INSERT OR IGNORE INTO outbox ({OUTBOX_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    delivery_row(d),
                )
                if cur.rowcount == 1:
                    added.append(d.with_(id=cur.lastrowid))
                await cur.close()
        return added

    async def update_deliveries(self, rows: Sequence[Delivery]) -> None:
        """Record attempts' outcomes (state, attempts, next_at, sent_at, error, ref)."""
        async with self._transaction() as db:
            await db.executemany(
                "UPDATE outbox SET state = ?, attempts = ?, next_at = ?, sent_at = ?, "
                "error = ?, ref = ? WHERE id = ?",
                [delivery_update(d) for d in rows],
            )

    async def load_escalations(self) -> list[dict[str, Any]]:
        async with self.db.execute("SELECT progress FROM escalations") as cur:
            rows = await cur.fetchall()
        return [loads(text) for (text,) in rows]

    async def open_deliveries(self) -> list[Delivery]:
        """Pending and held rows, oldest first: what a restart must still send."""
        marks = ",".join("?" * len(OPEN))
        return await self._deliveries(f"state IN ({marks}) ORDER BY id", OPEN)

    async def deliveries_for(self, fingerprint: str) -> list[Delivery]:
        return await self._deliveries("fingerprint = ? ORDER BY id", (fingerprint,))

    async def thread_refs(self) -> dict[tuple[str, str, str], dict[str, str]]:
        """The first delivered message of each thread (one firing of an alert, channel,
        address: :attr:`Delivery.thread_key`) that has a ref."""
        refs: dict[tuple[str, str, str], dict[str, str]] = {}
        async with self.db.execute(
            "SELECT fingerprint, json_extract(notice, '$.alert.since'), channel, address, ref "
            "FROM outbox WHERE ref IS NOT NULL AND fingerprint != '' ORDER BY id"
        ) as cur:
            async for fp, since, channel, address, ref in cur:
                refs.setdefault((firing_id(fp, since), channel, address or ""), loads(ref))
        return refs

    async def _deliveries(self, where: str, args: Sequence[Any]) -> list[Delivery]:
        async with self.db.execute(
            f"SELECT id, {OUTBOX_COLUMNS} FROM outbox WHERE " + where, tuple(args)
        ) as cur:
            return [delivery_of(row) for row in await cur.fetchall()]

    async def save_view(self, view: View) -> None:
        await self._write(
            "INSERT OR REPLACE INTO location_views VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                view.check,
                view.place,
                view.bucket,
                int(view.ok),
                view.error,
                view.at,
                view.duration,
                view.member,
            ),
        )

    async def load_views(self, checks: Sequence[str]) -> list[View]:
        marks = ", ".join("?" * len(checks))
        sql = f"SELECT {VIEW_COLUMNS} FROM location_views WHERE check_name IN ({marks})"
        async with self.db.execute(sql, tuple(checks)) as cur:
            return [view_of(tuple(r)) for r in await cur.fetchall()]

    async def get_key(self, name: str) -> str | None:
        async with self.db.execute("SELECT value FROM keys WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def set_key_once(self, name: str, value: str) -> str:
        """Store ``value`` under ``name`` unless one is there; returns the one kept."""
        await self._write("INSERT OR IGNORE INTO keys VALUES (?, ?)", (name, value))
        kept = await self.get_key(name)
        assert kept is not None
        return kept

    async def notification_counts(self, since: float, until: float) -> dict[tuple[str, str], int]:
        """(channel, state) -> outbox rows created in [since, until)."""
        async with self.db.execute(
            "SELECT channel, state, COUNT(*) FROM outbox WHERE created_at >= ? "
            "AND created_at < ? GROUP BY 1, 2",
            (since, until),
        ) as cur:
            return {(str(c), str(s)): int(n) for c, s, n in await cur.fetchall()}
