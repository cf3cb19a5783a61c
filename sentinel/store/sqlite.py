"""The embedded store: one SQLite file in WAL mode, reached through aiosqlite.

Samples are kept as compact JSON, one ``[name, value]`` or
``[name, value, [[k, v], ...]]`` per sample. The ``up`` and ``duration_seconds``
samples every result starts with (see ``sentinel.runner``) repeat the ``ok`` and
``duration`` columns, so they are left out and rebuilt on read; a result whose
samples do not start with exactly those two is stored whole, behind a leading
``0``, so every result reads back equal to what was written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from sentinel.heartbeats import Beat
from sentinel.incidents import Incident, IncidentEvent
from sentinel.notify.base import Notice, firing_id
from sentinel.notify.outbox import OPEN, Delivery, decode_fallback, encode_fallback
from sentinel.results import Result, Sample
from sentinel.rules.engine import Instance
from sentinel.rules.state import AlertState
from sentinel.silences import Silence
from sentinel.store import StoreError
from sentinel.store.migrations import LATEST, migrate, refuse_newer, user_version

_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_loads = json.loads

_INSERT = "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)"
ROLLUP_EVERY = 20_000  # results between two writes of the daily uptime counts
_UPTIME = (
    "INSERT INTO uptime_daily VALUES (?, ?, ?, ?, ?) ON CONFLICT (check_name, day) DO UPDATE "
    "SET ok = ok + excluded.ok, total = total + excluded.total, "
    "duration_sum = duration_sum + excluded.duration_sum"
)
_RECENT = (
    "SELECT check_name, type, started_at, duration, ok, error, samples FROM results "
    "WHERE check_name = ? ORDER BY started_at DESC LIMIT ?"
)
_WHOLE = 0  # leading marker: the samples are stored whole, nothing to rebuild


def _starts_with_derived(r: Result) -> bool:
    samples = r.samples
    if len(samples) < 2:
        return False
    up, duration = samples[0], samples[1]
    return (
        up.name == "up"
        and not up.labels
        and up.value == (1.0 if r.ok else 0.0)
        and duration.name == "duration_seconds"
        and not duration.labels
        and duration.value == r.duration
    )


def encode_samples(r: Result) -> str:
    if _starts_with_derived(r):
        return _dumps(
            [[s.name, s.value, s.labels] if s.labels else [s.name, s.value] for s in r.samples[2:]]
        )
    return _dumps(
        [
            _WHOLE,
            *([s.name, s.value, s.labels] if s.labels else [s.name, s.value] for s in r.samples),
        ]
    )


def decode_samples(text: str, ok: bool, duration: float) -> tuple[Sample, ...]:
    items: list[Any] = _loads(text)
    if items and items[0] == _WHOLE:
        out = []
        items = items[1:]
    else:
        out = [Sample("up", 1.0 if ok else 0.0), Sample("duration_seconds", duration)]
    for item in items:
        if len(item) > 2:
            out.append(Sample(item[0], float(item[1]), tuple((k, v) for k, v in item[2])))
        else:
            out.append(Sample(item[0], float(item[1])))
    return tuple(out)


class SqliteStore:
    """History in one SQLite file (or ``:memory:``); one connection, one worker thread."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._db: aiosqlite.Connection | None = None
        # One connection serves every task: a transaction holds this lock from BEGIN
        # to COMMIT, and single writes take it too, so no write joins (and is rolled
        # back with) another task's transaction.
        self._lock = asyncio.Lock()
        self._rollup: dict[tuple[str, int], list[float]] = {}
        self._rolled = 0

    @property
    def path(self) -> str:
        return self._path

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

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
        except BaseException as exc:
            await self.close()
            if isinstance(exc, sqlite3.Error):
                # Another process holding the file is the one failure waiting can fix.
                busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
                raise StoreError(f"cannot open {self._path}: {exc}", transient=busy) from None
            raise

    @contextlib.asynccontextmanager
    async def _transaction(
        self, begin: str = "BEGIN IMMEDIATE"
    ) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self.db
            await db.execute(begin)
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException:
                # If COMMIT itself went through before a cancellation arrived, there is
                # nothing to roll back: let the original error through, not this one.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await db.execute("ROLLBACK")
                raise

    async def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One statement on its own (autocommit), never inside another task's transaction."""
        async with self._lock:
            cur = await self.db.execute(sql, tuple(args))
            count = cur.rowcount
            await cur.close()
            return count

    async def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                await self.flush_rollup()
            db, self._db = self._db, None
            await db.close()

    async def ping(self) -> bool:
        try:
            async with self.db.execute("SELECT 1") as cur:
                return (await cur.fetchone()) is not None
        except Exception:
            return False

    async def add_results(self, results: Sequence[Result]) -> None:
        """Insert all of ``results`` in one transaction, or none of them.

        Their daily uptime counts are summed in memory and written every
        ``ROLLUP_EVERY`` results, before a read of them, and at close: one upsert
        per check and day, not one per result (upserts per result cost about 7% of
        the CPU of 1,000 probes a second). A crash loses at most the unwritten
        counts, never a result.
        """
        if not results:
            return
        rows = []
        pending = self._rollup
        for r in results:
            started = r.started_at.timestamp()
            rows.append(
                (r.check, r.type, started, r.duration, 1 if r.ok else 0, r.error, encode_samples(r))
            )
            key = (r.check, int(started // 86400))
            acc = pending.get(key)
            if acc is None:
                acc = pending[key] = [0, 0, 0.0]
            if r.ok:
                acc[0] += 1
            acc[1] += 1
            acc[2] += r.duration
        self._rolled += len(results)
        async with self._transaction("BEGIN") as db:
            await db.executemany(_INSERT, rows)
        if self._rolled >= ROLLUP_EVERY:
            await self.flush_rollup()

    async def flush_rollup(self) -> None:
        """Write the daily uptime counts summed since the last flush."""
        pending, self._rollup, self._rolled = self._rollup, {}, 0
        if not pending:
            return
        try:
            async with self._transaction("BEGIN") as db:
                await db.executemany(
                    _UPTIME,
                    [(c, d, int(a[0]), int(a[1]), a[2]) for (c, d), a in pending.items()],
                )
        except BaseException:
            for key, acc in pending.items():  # keep them for the next try
                mine = self._rollup.setdefault(key, [0, 0, 0.0])
                for i in range(3):
                    mine[i] += acc[i]
            raise

    async def recent_results(self, check: str, limit: int = 100) -> list[Result]:
        async with self.db.execute(_RECENT, (check, limit)) as cur:
            rows = await cur.fetchall()
        return [
            Result(
                check=name,
                type=type_,
                started_at=datetime.fromtimestamp(started_at, UTC),
                duration=duration,
                ok=bool(ok),
                error=error,
                samples=decode_samples(samples, bool(ok), duration),
            )
            for name, type_, started_at, duration, ok, error, samples in rows
        ]

    async def prune_results(self, older_than: datetime) -> int:
        """Delete history before ``older_than``: results (the count returned), daily
        uptime rows of whole days before it, and delivered or given-up outbox rows.
        Open outbox rows and incidents are kept."""
        cutoff = older_than.timestamp()
        await self.flush_rollup()
        removed = await self._write("DELETE FROM results WHERE started_at < ?", (cutoff,))
        await self._write("DELETE FROM uptime_daily WHERE day < ?", (int(cutoff // 86400),))
        await self._write(
            "DELETE FROM outbox WHERE created_at < ? AND state NOT IN ('pending', 'held')",
            (cutoff,),
        )
        return removed

    async def save_heartbeat(self, name: str, beat: Beat) -> None:
        await self._write(
            "INSERT INTO heartbeats (name, success, start, fail, last_duration) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET success = excluded.success, start = excluded.start, "
            "fail = excluded.fail, last_duration = excluded.last_duration",
            (name, _ts(beat.success), _ts(beat.start), _ts(beat.fail), beat.last_duration),
        )

    async def load_heartbeats(self) -> dict[str, Beat]:
        async with self.db.execute(
            "SELECT name, success, start, fail, last_duration FROM heartbeats"
        ) as cur:
            rows = await cur.fetchall()
        return {
            name: Beat(_dt(success), _dt(start), _dt(fail), last_duration)
            for name, success, start, fail, last_duration in rows
        }

    async def save_alert(self, alert: Instance) -> None:
        st = alert.state
        await self._write(
            "INSERT OR REPLACE INTO alerts (fingerprint, rule, check_name, labels, state, "
            "active_since, fired_at, last_true, keep_firing_since, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                alert.fingerprint,
                alert.rule,
                alert.check,
                _dumps(alert.labels),
                st.state,
                st.active_since,
                st.fired_at,
                st.last_true,
                st.keep_firing_since,
                alert.value,
            ),
        )

    async def delete_alert(self, fingerprint: str) -> None:
        await self._write("DELETE FROM alerts WHERE fingerprint = ?", (fingerprint,))

    async def load_alerts(self) -> list[Instance]:
        async with self.db.execute(
            "SELECT rule, check_name, labels, state, active_since, fired_at, last_true, "
            "keep_firing_since, value FROM alerts"
        ) as cur:
            rows = await cur.fetchall()
        return [
            Instance(
                rule,
                check,
                tuple((str(k), str(v)) for k, v in _loads(labels)),
                AlertState(state, active_since, fired_at, last_true, keep_firing_since),
                value,
            )
            for rule, check, labels, state, active_since, fired_at, last_true, keep_firing_since, value in rows
        ]

    async def save_silence(self, silence: Silence) -> None:
        await self._write(
            "INSERT OR REPLACE INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                silence.id,
                _dumps(silence.matchers),
                silence.starts_at.timestamp(),
                silence.ends_at.timestamp(),
                silence.author,
                silence.comment,
                silence.created_at.timestamp(),
            ),
        )

    async def load_silences(self) -> list[Silence]:
        async with self.db.execute(
            "SELECT id, matchers, starts_at, ends_at, author, comment, created_at FROM silences "
            "ORDER BY created_at"
        ) as cur:
            rows = await cur.fetchall()
        return [
            Silence(
                sid,
                {str(k): str(v) for k, v in _loads(matchers).items()},
                datetime.fromtimestamp(starts, UTC),
                datetime.fromtimestamp(ends, UTC),
                author,
                comment,
                datetime.fromtimestamp(created, UTC),
            )
            for sid, matchers, starts, ends, author, comment, created in rows
        ]

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
                        (fp, _dumps(progress), now),
                    )
            for d in deliveries:
                cur = await db.execute(
                    "INSERT OR IGNORE INTO outbox (dedup, fingerprint, target, channel, address, "
                    "notice, fallback, state, attempts, next_at, created_at, sent_at, error, ref) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        d.dedup,
                        d.fingerprint,
                        d.target,
                        d.channel,
                        d.address,
                        _dumps(d.notice.to_json()),
                        encode_fallback(d.fallback),
                        d.state,
                        d.attempts,
                        d.next_at,
                        d.created_at,
                        d.sent_at,
                        d.error,
                        None if d.ref is None else _dumps(d.ref),
                    ),
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
                [
                    (
                        d.state,
                        d.attempts,
                        d.next_at,
                        d.sent_at,
                        d.error,
                        None if d.ref is None else _dumps(d.ref),
                        d.id,
                    )
                    for d in rows
                ],
            )

    async def load_escalations(self) -> list[dict[str, Any]]:
        async with self.db.execute("SELECT progress FROM escalations") as cur:
            rows = await cur.fetchall()
        return [_loads(text) for (text,) in rows]

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
                refs.setdefault((firing_id(fp, since), channel, address or ""), _loads(ref))
        return refs

    async def _deliveries(self, where: str, args: Sequence[Any]) -> list[Delivery]:
        async with self.db.execute(
            "SELECT id, dedup, fingerprint, target, channel, address, notice, fallback, state, "
            "attempts, next_at, created_at, sent_at, error, ref FROM outbox WHERE " + where,
            tuple(args),
        ) as cur:
            rows = await cur.fetchall()
        return [
            Delivery(
                dedup=dedup,
                fingerprint=fp,
                target=target,
                channel=channel,
                address=address,
                notice=Notice.from_json(_loads(notice)),
                next_at=next_at,
                created_at=created_at,
                fallback=decode_fallback(fallback),
                state=state,
                attempts=attempts,
                sent_at=sent_at,
                error=error,
                ref=None if ref is None else _loads(ref),
                id=rid,
            )
            for rid, dedup, fp, target, channel, address, notice, fallback, state, attempts, next_at, created_at, sent_at, error, ref in rows
        ]

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

    # -- incidents and rollups -----------------------------------------------

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
                (
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
                ),
            )
            await db.executemany(
                "INSERT INTO incident_events VALUES (?, ?, ?, ?, ?)",
                [(i.id, e.at, e.kind, e.text, _dumps(e.detail)) for e in events],
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
                [(incident_id, e.at, e.kind, e.text, _dumps(e.detail)) for e in events],
            )

    async def add_incident_events(self, incident_id: str, events: Sequence[IncidentEvent]) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "INSERT INTO incident_events VALUES (?, ?, ?, ?, ?)",
                [(incident_id, e.at, e.kind, e.text, _dumps(e.detail)) for e in events],
            )

    async def incidents(
        self, *, limit: int = 50, offset: int = 0, since: float | None = None
    ) -> list[Incident]:
        """Newest first."""
        async with self.db.execute(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE started_at >= ? "
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
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
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
                IncidentEvent(at, kind, text, _loads(detail))
                for at, kind, text, detail in await cur.fetchall()
            ]
        return Incident(*row), events

    async def open_incidents(self) -> list[Incident]:
        """Incidents not resolved yet (a restart picks them up)."""
        async with self.db.execute(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE resolved_at IS NULL"
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

    async def notification_counts(self, since: float, until: float) -> dict[tuple[str, str], int]:
        """(channel, state) -> outbox rows created in [since, until)."""
        async with self.db.execute(
            "SELECT channel, state, COUNT(*) FROM outbox WHERE created_at >= ? "
            "AND created_at < ? GROUP BY 1, 2",
            (since, until),
        ) as cur:
            return {(str(c), str(s)): int(n) for c, s, n in await cur.fetchall()}


_INCIDENT_COLUMNS = (
    "id, fingerprint, rule, check_name, severity, title, started_at, acked_at, acked_by, "
    "resolved_at, root_cause, resolution, preventive"
)


def _ts(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
