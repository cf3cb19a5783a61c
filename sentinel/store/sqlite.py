"""The embedded store: one SQLite file in WAL mode, reached through aiosqlite.

Samples are kept as compact JSON, one ``[name, value]`` or
``[name, value, [[k, v], ...]]`` per sample. The ``up`` and ``duration_seconds``
samples every result starts with (see ``sentinel.runner``) repeat the ``ok`` and
``duration`` columns, so they are left out and rebuilt on read; a result whose
samples do not start with exactly those two is stored whole, behind a leading
``0``, so every result reads back equal to what was written.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from sentinel.heartbeats import Beat
from sentinel.results import Result, Sample
from sentinel.rules.engine import Instance
from sentinel.rules.state import AlertState
from sentinel.silences import Silence
from sentinel.store import StoreError
from sentinel.store.migrations import LATEST, migrate, refuse_newer, user_version

_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_loads = json.loads

_INSERT = "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)"
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
        try:
            self._db = await aiosqlite.connect(self._path, isolation_level=None)
        except sqlite3.Error as exc:
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
                raise StoreError(f"cannot open {self._path}: {exc}") from None
            raise

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def ping(self) -> bool:
        try:
            async with self.db.execute("SELECT 1") as cur:
                return (await cur.fetchone()) is not None
        except Exception:
            return False

    async def add_results(self, results: Sequence[Result]) -> None:
        """Insert all of ``results`` in one transaction, or none of them."""
        if not results:
            return
        rows = [
            (
                r.check,
                r.type,
                r.started_at.timestamp(),
                r.duration,
                1 if r.ok else 0,
                r.error,
                encode_samples(r),
            )
            for r in results
        ]
        db = self.db
        await db.execute("BEGIN")
        try:
            await db.executemany(_INSERT, rows)
            await db.execute("COMMIT")
        except BaseException:
            # If COMMIT itself went through before a cancellation arrived, there is
            # nothing to roll back: let the original error through, not this one.
            with contextlib.suppress(sqlite3.Error, ValueError):
                await db.execute("ROLLBACK")
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
        async with self.db.execute(
            "DELETE FROM results WHERE started_at < ?", (older_than.timestamp(),)
        ) as cur:
            return int(cur.rowcount)

    async def save_heartbeat(self, name: str, beat: Beat) -> None:
        await self.db.execute(
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
        await self.db.execute(
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
        await self.db.execute("DELETE FROM alerts WHERE fingerprint = ?", (fingerprint,))

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
        await self.db.execute(
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


def _ts(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
