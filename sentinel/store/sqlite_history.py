"""The SQLite store's history (results, daily uptime) and incidents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sentinel.escalation.incidents import Incident, IncidentEvent
from sentinel.notify.outbox import OPEN
from sentinel.probes.results import Result
from sentinel.store.codec import (
    INCIDENT_COLUMNS,
    RESULT_COLUMNS,
    event_rows,
    incident_row,
    loads,
    result_of,
    result_row,
)
from sentinel.store.rollup import Row as RollupRow
from sentinel.store.sqlite_conn import SqliteConnection

_INSERT = "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)"
_UPTIME = (
    "INSERT INTO uptime_daily VALUES (?, ?, ?, ?, ?) ON CONFLICT (check_name, day) DO UPDATE "
    "SET ok = ok + excluded.ok, total = total + excluded.total, "
    "duration_sum = duration_sum + excluded.duration_sum"
)
_RECENT = (
    f"SELECT {RESULT_COLUMNS} FROM results WHERE check_name = ? ORDER BY started_at DESC LIMIT ?"
)


class SqliteHistory(SqliteConnection):
    """Check results, their daily uptime rollups, and the incident records."""

    async def add_results(self, results: Sequence[Result]) -> None:
        """Insert all of ``results`` in one transaction, or none of them; their daily
        uptime counts go through :class:`Rollup`."""
        if not results:
            return
        rows = [result_row(r) for r in results]
        async with self._transaction("BEGIN") as db:
            await db.executemany(_INSERT, rows)
        self._rollup.add(results)  # only once written: a retried batch counts once
        if self._rollup.due:
            await self.flush_rollup()

    async def flush_rollup(self) -> None:
        """Write the daily uptime counts summed since the last flush."""

        async def write(rows: list[RollupRow]) -> None:
            async with self._transaction("BEGIN") as db:
                await db.executemany(_UPTIME, rows)

        await self._rollup.flush(write)

    async def recent_results(self, check: str, limit: int = 100) -> list[Result]:
        async with self.db.execute(_RECENT, (check, limit)) as cur:
            return [result_of(row) for row in await cur.fetchall()]

    async def latest_results(self, checks: Sequence[str]) -> list[Result]:
        """The newest result of each of ``checks`` (one indexed read each: one process
        never asks, it has its own results in memory)."""
        out = []
        for name in dict.fromkeys(checks):
            async with self.db.execute(_RECENT, (name, 1)) as cur:
                row = await cur.fetchone()
            if row is not None:
                out.append(result_of(row))
        return out

    async def prune_results(self, older_than: datetime) -> int:
        """Delete history before ``older_than``: results (the count returned), daily
        uptime rows of whole days before it, and delivered or given-up outbox rows.
        Open outbox rows and incidents are kept."""
        cutoff = older_than.timestamp()
        await self.flush_rollup()
        removed = await self._write("DELETE FROM results WHERE started_at < ?", (cutoff,))
        await self._write("DELETE FROM uptime_daily WHERE day < ?", (int(cutoff // 86400),))
        marks = ",".join("?" * len(OPEN))
        await self._write(
            f"DELETE FROM outbox WHERE created_at < ? AND state NOT IN ({marks})",
            (cutoff, *OPEN),
        )
        return removed

    # -- incidents ------------------------------------------------------------

    async def save_incident(self, i: Incident, events: Sequence[IncidentEvent] = ()) -> None:
        """Create an incident or update its life (severity, title, ack, resolution), and
        append timeline events, in one transaction. The write-up (root cause,
        resolution, preventive) of an existing incident is left to :meth:`write_up`:
        the escalation journal saves its own copy at each ack and resolve and must not
        overwrite what people wrote."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, "
                "title = excluded.title, acked_at = excluded.acked_at, "
                "acked_by = excluded.acked_by, "
                # a resolution is final: a stale copy saved later cannot reopen it
                "resolved_at = COALESCE(excluded.resolved_at, incidents.resolved_at)",
                incident_row(i),
            )
            await db.executemany(
                "INSERT INTO incident_events VALUES (?, ?, ?, ?, ?)",
                event_rows(i.id, events),
            )

    async def write_up(
        self, incident_id: str, fields: Mapping[str, str], events: Sequence[IncidentEvent] = ()
    ) -> None:
        """Set any of root_cause, resolution, preventive, and append events (notes)."""
        columns = [k for k in ("root_cause", "resolution", "preventive") if k in fields]
        async with self._transaction() as db:
            if columns:
                await db.execute(
                    "UPDATE incidents SET "
                    + ", ".join(f"{k} = ?" for k in columns)
                    + " WHERE id = ?",
                    (*(fields[k] for k in columns), incident_id),
                )
            await db.executemany(
                "INSERT INTO incident_events VALUES (?, ?, ?, ?, ?)",
                event_rows(incident_id, events),
            )

    async def add_incident_events(self, incident_id: str, events: Sequence[IncidentEvent]) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "INSERT INTO incident_events VALUES (?, ?, ?, ?, ?)",
                event_rows(incident_id, events),
            )

    async def incidents(
        self, *, limit: int = 50, offset: int = 0, since: float | None = None
    ) -> list[Incident]:
        """Newest first."""
        async with self.db.execute(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE started_at >= ? "
            "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
            (since if since is not None else float("-inf"), limit, offset),
        ) as cur:
            rows = await cur.fetchall()
        return [Incident(*row) for row in rows]

    async def count_incidents(self, since: float | None = None) -> int:
        async with self.db.execute(
            "SELECT COUNT(*) FROM incidents WHERE started_at >= ?",
            (since if since is not None else float("-inf"),),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def incident(self, incident_id: str) -> tuple[Incident, list[IncidentEvent]] | None:
        async with self.db.execute(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        async with self.db.execute(
            "SELECT at, kind, text, detail FROM incident_events WHERE incident_id = ? "
            "ORDER BY at, rowid",
            (incident_id,),
        ) as cur:
            events = [
                IncidentEvent(at, kind, text, loads(detail))
                for at, kind, text, detail in await cur.fetchall()
            ]
        return Incident(*row), events

    async def open_incidents(self) -> list[Incident]:
        """Incidents not resolved yet (a restart picks them up)."""
        async with self.db.execute(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE resolved_at IS NULL"
        ) as cur:
            rows = await cur.fetchall()
        return [Incident(*row) for row in rows]

    async def uptime_days(
        self, since_day: int, checks: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int, int, int, float]]]:
        """Per check, its days from ``since_day`` (days since the epoch, UTC):
        (day, ok results, all results, sum of durations), oldest first."""
        await self.flush_rollup()
        out: dict[str, list[tuple[int, int, int, float]]] = {}
        sql = "SELECT check_name, day, ok, total, duration_sum FROM uptime_daily WHERE day >= ?"
        args: list[Any] = [since_day]
        wanted: list[str] | None = None
        if checks is not None:
            wanted = list(dict.fromkeys(checks))
            if not wanted:
                return out
        if wanted is not None and len(wanted) <= 30_000:
            # SQLite allows 32,766 parameters; a status page asks for at most a page.
            sql += f" AND check_name IN ({','.join('?' * len(wanted))})"
            args += wanted
        async with self.db.execute(sql + " ORDER BY check_name, day", args) as cur:
            rows = await cur.fetchall()
        keep = None if wanted is None else set(wanted)
        for check, day, ok, total, dsum in rows:
            if keep is None or check in keep:
                out.setdefault(check, []).append((day, ok, total, dsum))
        return out

    async def durations(self, check: str, since: float, until: float) -> list[float]:
        """Run durations of one check in [since, until) (for latency quantiles)."""
        async with self.db.execute(
            "SELECT duration FROM results WHERE check_name = ? AND started_at >= ? "
            "AND started_at < ?",
            (check, since, until),
        ) as cur:
            return [float(d) for (d,) in await cur.fetchall()]
