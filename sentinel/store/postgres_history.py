"""The PostgreSQL store's history (results, daily uptime) and incidents."""

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
from sentinel.store.postgres_pool import Conn, PostgresPool
from sentinel.store.rollup import Row as RollupRow

_RESULT_NAMES = [c.strip() for c in RESULT_COLUMNS.split(",")]
# One statement for the whole rollup (arrays in, unnest): 10,000 rows cost one plan
# and one round trip instead of 10,000 of each.
_UPTIME = (
    "INSERT INTO uptime_daily SELECT * FROM unnest($1::text[], $2::integer[], "
    "$3::integer[], $4::integer[], $5::float8[]) ON CONFLICT (check_name, day) "
    "DO UPDATE SET ok = uptime_daily.ok + excluded.ok, "
    "total = uptime_daily.total + excluded.total, "
    "duration_sum = uptime_daily.duration_sum + excluded.duration_sum"
)
_ADD_EVENTS = (
    "INSERT INTO incident_events (incident_id, at, kind, text, detail) VALUES ($1, $2, $3, $4, $5)"
)
# The newest row of each named check: one backward step down results_by_check per name.
_LATEST = (
    "SELECT r.* FROM unnest($1::text[]) AS c(name) CROSS JOIN LATERAL "
    f"(SELECT {RESULT_COLUMNS} FROM results WHERE check_name = c.name "
    "ORDER BY started_at DESC LIMIT 1) AS r"
)
_NO_SINCE = float("-inf")
PRUNE_TIMEOUT = 600.0


class PostgresHistory(PostgresPool):
    # -- history -------------------------------------------------------------

    async def add_results(self, results: Sequence[Result]) -> None:
        """All of ``results`` with one COPY, or none of them."""
        if not results:
            return
        rows = [result_row(r) for r in results]

        async def copy(conn: Conn) -> None:
            # History is as durable as SQLite's WAL with synchronous=NORMAL: a crash of
            # the server may lose the last fraction of a second of results, never an
            # alert or the outbox (their commits stay synchronous).
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.copy_records_to_table("results", records=rows, columns=_RESULT_NAMES)

        await self._run("writing results", copy, tx=True)
        self._rollup.add(results)
        if self._rollup.due:
            await self.flush_rollup()

    async def flush_rollup(self) -> None:
        """Write the daily uptime counts summed since the last flush."""

        async def write(rows: list[RollupRow]) -> None:
            columns = [list(c) for c in zip(*rows, strict=True)]
            await self._run("writing daily uptime", lambda c: c.execute(_UPTIME, *columns))

        await self._rollup.flush(write)

    async def recent_results(self, check: str, limit: int = 100) -> list[Result]:
        rows = await self._run(
            "reading results",
            lambda c: c.fetch(
                f"SELECT {RESULT_COLUMNS} FROM results WHERE check_name = $1 "
                "ORDER BY started_at DESC LIMIT $2",
                check,
                limit,
            ),
        )
        return [result_of(row) for row in rows]

    async def latest_results(self, checks: Sequence[str]) -> list[Result]:
        """The newest result of each of ``checks``, in one statement."""
        if not checks:
            return []
        names = list(dict.fromkeys(checks))
        rows = await self._run("reading latest results", lambda c: c.fetch(_LATEST, names))
        return [result_of(row) for row in rows]

    async def prune_results(self, older_than: datetime) -> int:
        """Results before ``older_than`` (their count returned), daily uptime of whole
        days before it, delivered or given-up outbox rows; open rows and incidents stay."""
        cutoff = older_than.timestamp()
        await self.flush_rollup()

        async def prune(conn: Conn) -> int:
            # An hour of 10,000 checks every 10 s is 3.6 million rows: more than the
            # usual command timeout may allow, so this one gets its own.
            status = await conn.execute(
                "DELETE FROM results WHERE started_at < $1", cutoff, timeout=PRUNE_TIMEOUT
            )
            await conn.execute("DELETE FROM uptime_daily WHERE day < $1", int(cutoff // 86400))
            await conn.execute(
                "DELETE FROM outbox WHERE created_at < $1 AND NOT state = ANY($2::text[])",
                cutoff,
                list(OPEN),
            )
            return int(status.rsplit(" ", 1)[-1])

        return await self._run("pruning history", prune)

    async def uptime_days(
        self, since_day: int, checks: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int, int, int, float]]]:
        """Per check, its days from ``since_day``: (day, ok, all, duration sum), oldest first."""
        await self.flush_rollup()
        sql = "SELECT check_name, day, ok, total, duration_sum FROM uptime_daily WHERE day >= $1"
        args: list[Any] = [since_day]
        if checks is not None:
            if not checks:
                return {}
            sql += " AND check_name = ANY($2::text[])"
            args.append(list(dict.fromkeys(checks)))
        rows = await self._run(
            "reading daily uptime", lambda c: c.fetch(sql + " ORDER BY check_name, day", *args)
        )
        out: dict[str, list[tuple[int, int, int, float]]] = {}
        for check, day, ok, total, dsum in rows:
            out.setdefault(check, []).append((day, ok, total, dsum))
        return out

    async def durations(self, check: str, since: float, until: float) -> list[float]:
        rows = await self._run(
            "reading durations",
            lambda c: c.fetch(
                "SELECT duration FROM results WHERE check_name = $1 AND started_at >= $2 "
                "AND started_at < $3",
                check,
                since,
                until,
            ),
        )
        return [float(d) for (d,) in rows]

    # -- incidents -----------------------------------------------------------

    async def save_incident(self, i: Incident, events: Sequence[IncidentEvent] = ()) -> None:
        """Create or update an incident's life and append events, in one transaction;
        the write-up of an existing incident is left to :meth:`write_up`."""
        row = incident_row(i)

        async def save(conn: Conn) -> None:
            await conn.execute(
                f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES "
                "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
                "ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, "
                "title = excluded.title, acked_at = excluded.acked_at, "
                "acked_by = excluded.acked_by, "
                "resolved_at = COALESCE(excluded.resolved_at, incidents.resolved_at)",
                *row,
            )
            await conn.executemany(_ADD_EVENTS, event_rows(i.id, events))

        await self._run("saving an incident", save, tx=True)

    async def write_up(
        self, incident_id: str, fields: Mapping[str, str], events: Sequence[IncidentEvent] = ()
    ) -> None:
        columns = [k for k in ("root_cause", "resolution", "preventive") if k in fields]

        async def write(conn: Conn) -> None:
            if columns:
                sets = ", ".join(f"{k} = ${n}" for n, k in enumerate(columns, 2))
                await conn.execute(
                    f"UPDATE incidents SET {sets} WHERE id = $1",
                    incident_id,
                    *(fields[k] for k in columns),
                )
            await conn.executemany(_ADD_EVENTS, event_rows(incident_id, events))

        await self._run("writing up an incident", write, tx=True)

    async def add_incident_events(self, incident_id: str, events: Sequence[IncidentEvent]) -> None:
        rows = event_rows(incident_id, events)
        await self._run(
            "adding incident events", lambda c: c.executemany(_ADD_EVENTS, rows), tx=True
        )

    async def incidents(
        self, *, limit: int = 50, offset: int = 0, since: float | None = None
    ) -> list[Incident]:
        rows = await self._fetch(
            "reading incidents",
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE started_at >= $1 "
            "ORDER BY started_at DESC, id DESC LIMIT $2 OFFSET $3",
            _NO_SINCE if since is None else since,
            limit,
            offset,
        )
        return [Incident(*row) for row in rows]

    async def count_incidents(self, since: float | None = None) -> int:
        n = await self._run(
            "counting incidents",
            lambda c: c.fetchval(
                "SELECT COUNT(*) FROM incidents WHERE started_at >= $1",
                _NO_SINCE if since is None else since,
            ),
        )
        return int(n)

    async def incident(self, incident_id: str) -> tuple[Incident, list[IncidentEvent]] | None:
        async def read(conn: Conn) -> tuple[Incident, list[IncidentEvent]] | None:
            row = await conn.fetchrow(
                f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1", incident_id
            )
            if row is None:
                return None
            events = await conn.fetch(
                "SELECT at, kind, text, detail FROM incident_events WHERE incident_id = $1 "
                "ORDER BY at, seq",
                incident_id,
            )
            return Incident(*row), [IncidentEvent(a, k, t, loads(d)) for a, k, t, d in events]

        return await self._run("reading an incident", read, tx=True)

    async def open_incidents(self) -> list[Incident]:
        rows = await self._fetch(
            "reading open incidents",
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE resolved_at IS NULL",
        )
        return [Incident(*row) for row in rows]
