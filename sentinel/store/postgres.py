"""The PostgreSQL store: the Store protocol on asyncpg, a small connection pool.

Every write SQLite does in one transaction is one transaction here. asyncpg
prepares each statement once per connection and keeps it (its statement cache):
the hot path (results, alerts, outbox) runs prepared statements. Results go in
with ``COPY`` (``copy_records_to_table``), one batch per call.

Failures are :class:`StoreError` with ``retryable`` set as
:func:`sentinel.store.postgres_schema.store_error` says. A call that meets a lost
connection, a serialization failure or a lock timeout is retried at once on
another connection, then after short pauses (``retry_pauses``); when that is not
enough, the StoreError goes to the caller, which keeps its rows (the history
writer's buffer, the outbox's open rows) and tries again later. Messages never
hold the URL or its password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

import asyncpg

from sentinel.heartbeats import Beat
from sentinel.incidents import Incident, IncidentEvent
from sentinel.notify.base import firing_id
from sentinel.notify.outbox import OPEN, Delivery
from sentinel.results import Result
from sentinel.rules.engine import Instance
from sentinel.silences import Silence
from sentinel.store import MOVED_KEY, StoreError, refuse_moved
from sentinel.store.codec import (
    ALERT_COLUMNS,
    INCIDENT_COLUMNS,
    OUTBOX_COLUMNS,
    RESULT_COLUMNS,
    SILENCE_COLUMNS,
    alert_of,
    alert_row,
    delivery_of,
    delivery_row,
    delivery_update,
    dt,
    dumps,
    event_rows,
    loads,
    result_of,
    result_row,
    silence_of,
    silence_row,
    ts,
)
from sentinel.store.postgres_schema import describe, migrate, secrets_of, store_error
from sentinel.store.rollup import Rollup

T = TypeVar("T")
Conn: TypeAlias = Any  # asyncpg.Connection: asyncpg has no type hints

_RESULT_NAMES = [c.strip() for c in RESULT_COLUMNS.split(",")]
_UPTIME = (
    "INSERT INTO uptime_daily VALUES ($1, $2, $3, $4, $5) ON CONFLICT (check_name, day) "
    "DO UPDATE SET ok = uptime_daily.ok + excluded.ok, "
    "total = uptime_daily.total + excluded.total, "
    "duration_sum = uptime_daily.duration_sum + excluded.duration_sum"
)
_ADD_OUTBOX = (
    f"INSERT INTO outbox ({OUTBOX_COLUMNS}) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
    "ON CONFLICT (dedup) DO NOTHING RETURNING id"
)
_ADD_EVENTS = (
    "INSERT INTO incident_events (incident_id, at, kind, text, detail) VALUES ($1, $2, $3, $4, $5)"
)
_NO_SINCE = float("-inf")


def _upsert(table: str, columns: str, key: str) -> str:
    names = [c.strip() for c in columns.split(",")]
    marks = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    sets = ", ".join(f"{c} = excluded.{c}" for c in names if c != key)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )


_SAVE_ALERT = _upsert("alerts", ALERT_COLUMNS, "fingerprint")
_SAVE_SILENCE = _upsert("silences", SILENCE_COLUMNS, "id")
_SAVE_HEARTBEAT = _upsert("heartbeats", "name, success, start, fail, last_duration", "name")
_SAVE_ESCALATION = _upsert("escalations", "fingerprint, progress, updated_at", "fingerprint")


class PostgresStore:
    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 4,
        force: bool = False,
        connect_timeout: float = 10.0,
        command_timeout: float = 30.0,
        retry_pauses: Sequence[float] = (0.0, 0.1, 0.5, 1.0),
    ) -> None:
        self._dsn = dsn
        self._where = describe(dsn)
        self._secrets = secrets_of(dsn)
        self._pool_size = pool_size
        self._force = force
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pauses = tuple(retry_pauses)
        self._pool: asyncpg.Pool | None = None
        self._rollup = Rollup()

    @property
    def where(self) -> str:
        """``postgresql://host:port/db``: safe to log."""
        return self._where

    async def open(self) -> None:
        """Connect, migrate (under the advisory lock) and check the store was not moved.

        StoreError on any failure: ``retryable`` when the server is down or busy,
        not when the credentials, the database or the schema are wrong."""
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
            )
        except Exception as exc:
            raise self._error(exc, f"cannot connect to {self._where}") from None
        try:
            async with pool.acquire() as conn:
                await migrate(conn, self._where)
                if not self._force:
                    refuse_moved(self._where, await self._get_key(conn, MOVED_KEY))
        except BaseException as exc:
            pool.terminate()
            if isinstance(exc, Exception):
                raise self._error(exc, f"cannot open {self._where}") from None
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        self._pool = pool  # flush_rollup needs it once more
        try:
            await self.flush_rollup()
        except StoreError:
            pass
        finally:
            self._pool = None
            try:
                await asyncio.wait_for(pool.close(), self._connect_timeout)
            except (Exception, asyncio.CancelledError):
                pool.terminate()

    def _error(self, exc: BaseException, what: str) -> BaseException:
        return store_error(exc, what, self._secrets) or exc

    async def _run(self, what: str, op: Callable[[Conn], Awaitable[T]], *, tx: bool = False) -> T:
        """``op`` on a pooled connection (in a transaction when ``tx``), retried while
        its failure is retryable and pauses remain."""
        for attempt, pause in enumerate((*self._pauses, None)):
            pool = self._pool
            if pool is None:
                raise StoreError("store is not open")
            try:
                async with pool.acquire(timeout=self._connect_timeout) as conn:
                    if not tx:
                        return await op(conn)
                    async with conn.transaction():
                        return await op(conn)
            except Exception as exc:
                err = store_error(exc, f"{what} on {self._where}", self._secrets)
                if err is None:
                    raise
                if not err.retryable or pause is None:
                    if attempt and err.retryable:
                        err = StoreError(f"{err} (after {attempt + 1} tries)", retryable=True)
                    raise err from None
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def ping(self) -> bool:
        pool = self._pool
        if pool is None:
            return False
        try:
            async with asyncio.timeout(self._connect_timeout):
                async with pool.acquire() as conn:
                    return bool(await conn.fetchval("SELECT 1") == 1)
        except Exception:
            return False

    # -- history -------------------------------------------------------------

    async def add_results(self, results: Sequence[Result]) -> None:
        """All of ``results`` with one COPY, or none of them."""
        if not results:
            return
        rows = [result_row(r) for r in results]

        async def copy(conn: Conn) -> None:
            await conn.copy_records_to_table("results", records=rows, columns=_RESULT_NAMES)

        await self._run("writing results", copy)
        self._rollup.add(results)
        if self._rollup.due:
            await self.flush_rollup()

    async def flush_rollup(self) -> None:
        rows = self._rollup.take()
        if not rows:
            return
        try:
            await self._run("writing daily uptime", lambda c: c.executemany(_UPTIME, rows), tx=True)
        except BaseException:
            self._rollup.give_back(rows)
            raise

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

    async def prune_results(self, older_than: datetime) -> int:
        """Results before ``older_than`` (their count returned), daily uptime of whole
        days before it, delivered or given-up outbox rows; open rows and incidents stay."""
        cutoff = older_than.timestamp()
        await self.flush_rollup()

        async def prune(conn: Conn) -> int:
            status = await conn.execute("DELETE FROM results WHERE started_at < $1", cutoff)
            await conn.execute("DELETE FROM uptime_daily WHERE day < $1", int(cutoff // 86400))
            await conn.execute(
                "DELETE FROM outbox WHERE created_at < $1 AND state NOT IN ('pending', 'held')",
                cutoff,
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

    # -- state ---------------------------------------------------------------

    async def _execute(self, what: str, sql: str, *args: Any) -> None:
        await self._run(what, lambda c: c.execute(sql, *args))

    async def _fetch(self, what: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(what, lambda c: c.fetch(sql, *args))

    async def save_heartbeat(self, name: str, beat: Beat) -> None:
        row = (name, ts(beat.success), ts(beat.start), ts(beat.fail), beat.last_duration)
        await self._execute("saving a heartbeat", _SAVE_HEARTBEAT, *row)

    async def load_heartbeats(self) -> dict[str, Beat]:
        rows = await self._fetch(
            "reading heartbeats", "SELECT name, success, start, fail, last_duration FROM heartbeats"
        )
        return {n: Beat(dt(s), dt(st), dt(f), d) for n, s, st, f, d in rows}

    async def save_alert(self, alert: Instance) -> None:
        await self._execute("saving an alert", _SAVE_ALERT, *alert_row(alert))

    async def delete_alert(self, fingerprint: str) -> None:
        await self._execute(
            "deleting an alert", "DELETE FROM alerts WHERE fingerprint = $1", fingerprint
        )

    async def load_alerts(self) -> list[Instance]:
        rows = await self._fetch("reading alerts", f"SELECT {ALERT_COLUMNS} FROM alerts")
        return [alert_of(row) for row in rows]

    async def save_silence(self, silence: Silence) -> None:
        await self._execute("saving a silence", _SAVE_SILENCE, *silence_row(silence))

    async def load_silences(self) -> list[Silence]:
        rows = await self._fetch(
            "reading silences", f"SELECT {SILENCE_COLUMNS} FROM silences ORDER BY created_at"
        )
        return [silence_of(row) for row in rows]

    async def get_key(self, name: str) -> str | None:
        return await self._run("reading a key", lambda c: self._get_key(c, name))

    @staticmethod
    async def _get_key(conn: Conn, name: str) -> str | None:
        value = await conn.fetchval("SELECT value FROM keys WHERE name = $1", name)
        return None if value is None else str(value)

    async def set_key_once(self, name: str, value: str) -> str:
        async def once(conn: Conn) -> str:
            await conn.execute(
                "INSERT INTO keys VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, value
            )
            kept = await self._get_key(conn, name)
            assert kept is not None
            return kept

        return await self._run("keeping a key", once, tx=True)

    # -- escalations and the outbox ------------------------------------------

    async def commit_notifications(
        self,
        escalations: Sequence[tuple[str, dict[str, Any] | None]],
        deliveries: Sequence[Delivery],
        now: float,
    ) -> list[Delivery]:
        """In one transaction: escalation progress (None deletes it) and new outbox
        rows; rows whose ``dedup`` key exists are skipped. Returns the new rows, with ids."""

        async def commit(conn: Conn) -> list[Delivery]:
            gone = [fp for fp, progress in escalations if progress is None]
            kept = [(fp, dumps(p), now) for fp, p in escalations if p is not None]
            if gone:
                await conn.execute(
                    "DELETE FROM escalations WHERE fingerprint = ANY($1::text[])", gone
                )
            if kept:
                await conn.executemany(_SAVE_ESCALATION, kept)
            added = []
            for d in deliveries:
                rid = await conn.fetchval(_ADD_OUTBOX, *delivery_row(d))
                if rid is not None:
                    added.append(d.with_(id=rid))
            return added

        return await self._run("committing notifications", commit, tx=True)

    async def update_deliveries(self, rows: Sequence[Delivery]) -> None:
        params = [delivery_update(d) for d in rows]
        await self._run(
            "updating deliveries",
            lambda c: c.executemany(
                "UPDATE outbox SET state = $1, attempts = $2, next_at = $3, sent_at = $4, "
                "error = $5, ref = $6 WHERE id = $7",
                params,
            ),
            tx=True,
        )

    async def load_escalations(self) -> list[dict[str, Any]]:
        rows = await self._fetch("reading escalations", "SELECT progress FROM escalations")
        return [loads(text) for (text,) in rows]

    async def open_deliveries(self) -> list[Delivery]:
        return await self._deliveries("state = ANY($1::text[]) ORDER BY id", list(OPEN))

    async def deliveries_for(self, fingerprint: str) -> list[Delivery]:
        return await self._deliveries("fingerprint = $1 ORDER BY id", fingerprint)

    async def _deliveries(self, where: str, *args: Any) -> list[Delivery]:
        rows = await self._fetch(
            "reading the outbox", f"SELECT id, {OUTBOX_COLUMNS} FROM outbox WHERE {where}", *args
        )
        return [delivery_of(row) for row in rows]

    async def thread_refs(self) -> dict[tuple[str, str, str], dict[str, str]]:
        """The first delivered message of each thread that has a ref (see SqliteStore)."""
        rows = await self._fetch(
            "reading thread refs",
            "SELECT fingerprint, (notice::jsonb #>> '{alert,since}')::float8, channel, "
            "address, ref FROM outbox WHERE ref IS NOT NULL AND fingerprint != '' ORDER BY id",
        )
        refs: dict[tuple[str, str, str], dict[str, str]] = {}
        for fp, since, channel, address, ref in rows:
            refs.setdefault((firing_id(fp, since), channel, address or ""), loads(ref))
        return refs

    async def notification_counts(self, since: float, until: float) -> dict[tuple[str, str], int]:
        rows = await self._fetch(
            "counting notifications",
            "SELECT channel, state, COUNT(*) FROM outbox WHERE created_at >= $1 "
            "AND created_at < $2 GROUP BY 1, 2",
            since,
            until,
        )
        return {(str(c), str(s)): int(n) for c, s, n in rows}

    # -- incidents -----------------------------------------------------------

    async def save_incident(self, i: Incident, events: Sequence[IncidentEvent] = ()) -> None:
        """Create or update an incident's life and append events, in one transaction;
        the write-up of an existing incident is left to :meth:`write_up`."""
        row = (
            i.id,
            i.fingerprint,
            i.rule,
            i.check,
            i.severity,
            i.title,
            i.started_at,
            i.acked_at,
            i.acked_by,
            i.resolved_at,
            i.root_cause,
            i.resolution,
            i.preventive,
        )

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
