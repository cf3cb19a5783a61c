"""The embedded store: one SQLite file in WAL mode, reached through aiosqlite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from sentinel.results import Result, Sample
from sentinel.store import StoreError
from sentinel.store.migrations import LATEST, MIGRATIONS

_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


# ``up`` and ``duration_seconds`` are the ok and duration columns: not stored twice.
_DERIVED = frozenset({"up", "duration_seconds"})


def encode_samples(samples: Sequence[Sample]) -> str:
    return _dumps(
        [
            [s.name, s.value, s.labels] if s.labels else [s.name, s.value]
            for s in samples
            if s.name not in _DERIVED
        ]
    )


def decode_samples(text: str, ok: bool, duration: float) -> tuple[Sample, ...]:
    out = [Sample("up", 1.0 if ok else 0.0), Sample("duration_seconds", duration)]
    for item in json.loads(text):
        labels = tuple((str(k), str(v)) for k, v in item[2]) if len(item) > 2 else ()
        out.append(Sample(item[0], float(item[1]), labels))
    return tuple(out)


class SqliteStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    async def open(self) -> None:
        if self._path != ":memory:":
            try:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory of {self._path}: {exc.strerror}"
                ) from None
        try:
            self._db = await aiosqlite.connect(self._path, isolation_level=None)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA busy_timeout=5000")
            await self._migrate()
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open {self._path}: {exc}") from None

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > LATEST:
            raise StoreError(
                f"{self._path} has schema version {version}, newer than this sentinel knows "
                f"({LATEST}); run a newer sentinel or restore a backup"
            )
        for number in range(version, LATEST):
            await self.db.execute("BEGIN")
            try:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        await self.db.execute(statement)
                await self.db.execute(f"PRAGMA user_version = {number + 1}")
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def ping(self) -> bool:
        try:
            async with self.db.execute("SELECT 1") as cur:
                return (await cur.fetchone()) is not None
        except (sqlite3.Error, StoreError, ValueError):
            return False

    async def add_results(self, results: Sequence[Result]) -> None:
        rows = [
            (
                r.check,
                r.type,
                r.started_at.timestamp(),
                r.duration,
                1 if r.ok else 0,
                r.error,
                encode_samples(r.samples),
            )
            for r in results
        ]
        db = self.db
        await db.execute("BEGIN")
        try:
            await db.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    async def recent_results(self, check: str, limit: int = 100) -> list[Result]:
        query = (
            "SELECT check_name, type, started_at, duration, ok, error, samples FROM results "
            "WHERE check_name = ? ORDER BY started_at DESC LIMIT ?"
        )
        async with self.db.execute(query, (check, limit)) as cur:
            rows = await cur.fetchall()
        return [
            Result(
                check=row[0],
                type=row[1],
                started_at=datetime.fromtimestamp(row[2], UTC),
                duration=row[3],
                ok=bool(row[4]),
                error=row[5],
                samples=decode_samples(row[6], bool(row[4]), row[3]),
            )
            for row in rows
        ]

    async def prune_results(self, older_than: datetime) -> int:
        async with self.db.execute(
            "DELETE FROM results WHERE started_at < ?", (older_than.timestamp(),)
        ) as cur:
            return int(cur.rowcount)
