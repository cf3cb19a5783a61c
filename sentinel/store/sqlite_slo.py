"""SLO counters in SQLite: the statements of store/postgres_slo.py in SQLite's dialect
(numbered ``?`` parameters, name lists passed as JSON and read with ``json_each``); and
the SLO alerts' inhibition holds (``inhibition_holds``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sentinel.store.protocols import HoldRow, SloDay, SloHour, SloWritten, shift_groups
from sentinel.store.sqlite_history import SqliteHistory

_SAVE_SLO_MINUTE = (
    "INSERT INTO slo_member_minutes VALUES (?1, ?2, ?5, ?3, ?4, "
    "(julianday('now') - 2440587.5) * 86400.0) ON CONFLICT (slo, minute, member) DO UPDATE "
    "SET good = excluded.good, total = excluded.total, written = excluded.written"
)
_COUNTED = (
    "(SELECT slo, minute, good, total FROM slo_minutes UNION ALL "
    "SELECT slo, minute, good, total FROM slo_member_minutes)"
)
_SLO_DAYS = (  # ranges of the primary keys (slo, minute)
    "SELECT day, SUM(good), SUM(total) FROM ("
    f"SELECT minute / 1440 AS day, good, total FROM {_COUNTED} "
    "WHERE slo = ?1 AND minute >= ?2 AND minute < ?3 UNION ALL "
    "SELECT minute / 1440 AS day, good, total FROM slo_hours "
    "WHERE slo = ?1 AND minute >= ?2 AND minute < ?3"
    ") GROUP BY day ORDER BY day"
)
# The rows from minute ?1 on, in key order, of the SLOs in ?2 (a JSON list) when
# _NAMED fills the gaps: a condition of its own in each table, so their primary keys
# are used (with "?2 IS NULL OR ..." on the union of the two tables SQLite scanned
# them whole for each chunk of 200 SLOs: 10,000 SLOs over 30 days took 292 CPU-s to
# start).
_LOAD_SLO_MINUTES = (
    "SELECT slo, minute, SUM(good), SUM(total) FROM ("
    "SELECT slo, minute, good, total FROM slo_minutes WHERE minute >= ?1 {0}UNION ALL "
    "SELECT slo, minute, good, total FROM slo_member_minutes WHERE minute >= ?1 {0}"
    ") "
    "GROUP BY slo, minute ORDER BY slo, minute"
)
_OTHERS_SLO_MINUTES = (
    "WITH touched AS (SELECT slo, minute FROM slo_member_minutes "
    "WHERE written >= ?3 AND member <> ?1 AND minute >= ?2 UNION "
    "SELECT slo, minute FROM slo_minutes WHERE ?3 <= 0 AND minute >= ?2) "
    "SELECT slo, minute, SUM(good), SUM(total), MAX(written) FROM ("
    "SELECT slo, minute, good, total, written FROM slo_member_minutes "
    "WHERE member <> ?1 AND minute >= ?2 UNION ALL "
    "SELECT slo, minute, good, total, 0 FROM slo_minutes WHERE minute >= ?2"
    ") JOIN touched USING (slo, minute) GROUP BY slo, minute ORDER BY minute, slo"
)
_NAMED = "AND slo IN (SELECT value FROM json_each(?2)) "
_LOAD_SLO_HOURS = (
    "SELECT slo, minute, good, total, first FROM slo_hours WHERE minute >= ?1 {}"
    "ORDER BY slo, minute"
)
# The minutes before ?1 of the SLOs named (?3: a JSON list; or all but them) summed per
# hour starting ?2 minutes past the UTC hour, split at the UTC hour (a row's start is the
# later of the two hour starts), added to the rows already rolled.
_ROLL_UP_SLO_MINUTES = (
    "INSERT INTO slo_hours (slo, minute, good, total, first) "
    "SELECT slo, MAX(minute - minute % 60, minute - ((minute - ?2) % 60 + 60) % 60) AS start, "
    "SUM(good), SUM(total), MIN(minute) FROM " + _COUNTED + " "
    "WHERE minute < ?1 AND slo {} (SELECT value FROM json_each(?3)) GROUP BY slo, start "
    "ON CONFLICT (slo, minute) DO UPDATE SET good = slo_hours.good + excluded.good, "
    "total = slo_hours.total + excluded.total, first = MIN(slo_hours.first, excluded.first)"
)


_SAVE_HOLD = "INSERT OR REPLACE INTO inhibition_holds VALUES (?, ?, ?)"
_LOAD_HOLDS = (
    "SELECT fingerprint, labels, resolved_at FROM inhibition_holds WHERE resolved_at >= ? "
    "ORDER BY resolved_at, fingerprint"
)


def _load(
    sql: str, since_minute: int, slos: Sequence[str] | None
) -> tuple[str, tuple[object, ...]]:
    """A load statement and its arguments: of every SLO, or of those named."""
    if slos is None:
        return sql.format(""), (since_minute,)
    return sql.format(_NAMED), (since_minute, json.dumps(list(slos)))


class SqliteSlo(SqliteHistory):
    async def save_slo_minutes(
        self, rows: Sequence[tuple[str, int, int, int]], member: str = ""
    ) -> None:
        if rows:
            async with self._transaction("BEGIN") as db:
                await db.executemany(_SAVE_SLO_MINUTE, [(*row, member) for row in rows])

    async def others_slo_minutes(
        self, member: str, since_minute: int, written_since: float
    ) -> list[SloWritten]:
        args = (member, since_minute, written_since)
        async with self.db.execute(_OTHERS_SLO_MINUTES, args) as cur:
            return [
                (str(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4]))
                for r in await cur.fetchall()
            ]

    async def load_slo_minutes(
        self, since_minute: int, slos: Sequence[str] | None = None
    ) -> list[tuple[str, int, int, int]]:
        sql, args = _load(_LOAD_SLO_MINUTES, since_minute, slos)
        async with self.db.execute(sql, args) as cur:
            return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in await cur.fetchall()]

    async def slo_days(self, slo: str, since_minute: int, until_minute: int) -> list[SloDay]:
        async with self.db.execute(_SLO_DAYS, (slo, since_minute, until_minute)) as cur:
            return [(int(r[0]), int(r[1]), int(r[2])) for r in await cur.fetchall()]

    async def load_slo_hours(
        self, since_minute: int, slos: Sequence[str] | None = None
    ) -> list[SloHour]:
        sql, args = _load(_LOAD_SLO_HOURS, since_minute, slos)
        async with self.db.execute(sql, args) as cur:
            return [
                (str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]))
                for r in await cur.fetchall()
            ]

    async def roll_up_slo_minutes(
        self, before_minute: int, shifts: Mapping[str, int] | None = None
    ) -> int:
        groups = shift_groups(shifts or {})
        async with self._transaction() as db:
            for shift, names, among in groups:
                sql = _ROLL_UP_SLO_MINUTES.format("IN" if among else "NOT IN")
                await db.execute(sql, (before_minute, shift, json.dumps(names)))
            gone = 0
            for table in ("slo_minutes", "slo_member_minutes"):
                async with db.execute(
                    f"DELETE FROM {table} WHERE minute < ?", (before_minute,)
                ) as cur:
                    gone += max(0, cur.rowcount)
            return gone

    async def prune_slo_minutes(self, before_minute: int) -> int:
        async with self._transaction() as db:
            gone = 0
            for table in ("slo_minutes", "slo_member_minutes", "slo_hours"):
                async with db.execute(
                    f"DELETE FROM {table} WHERE minute < ?", (before_minute,)
                ) as cur:
                    gone += max(0, cur.rowcount)
            return gone

    async def save_holds(
        self, saved: Sequence[HoldRow], deleted: Sequence[str], before: float
    ) -> None:
        async with self._transaction() as db:
            await db.executemany(
                _SAVE_HOLD, [(fp, json.dumps(labels), at) for fp, labels, at in saved]
            )
            await db.executemany(
                "DELETE FROM inhibition_holds WHERE fingerprint = ?", [(fp,) for fp in deleted]
            )
            await db.execute("DELETE FROM inhibition_holds WHERE resolved_at < ?", (before,))

    async def load_holds(self, since: float) -> list[HoldRow]:
        async with self.db.execute(_LOAD_HOLDS, (since,)) as cur:
            return [(str(r[0]), json.loads(r[1]), float(r[2])) for r in await cur.fetchall()]
