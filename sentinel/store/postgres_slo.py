"""The PostgreSQL store's SLO counters (issue 19): per-minute good/total rows for the
recent hours, rolled up into hourly rows in one transaction, read back at start, summed
per day for reports, pruned past the longest window; and the SLO alerts' inhibition holds
(``inhibition_holds``). Mirrors the SQLite store's."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sentinel.store.postgres_history import PostgresHistory
from sentinel.store.postgres_pool import Conn
from sentinel.store.protocols import HoldRow, SloDay, SloHour, SloWritten, shift_groups

# Each member's own minutes (slo_member_minutes), with the database's time of writing;
# readers sum the members and the member-less rows older versions write (slo_minutes).
_SAVE_SLO_MINUTE = (
    "INSERT INTO slo_member_minutes VALUES ($1, $2, $5, $3, $4, "
    "extract(epoch FROM clock_timestamp())) ON CONFLICT (slo, minute, member) DO UPDATE "
    "SET good = excluded.good, total = excluded.total, written = excluded.written"
)
_COUNTED = (
    "(SELECT slo, minute, good, total FROM slo_minutes UNION ALL "
    "SELECT slo, minute, good, total FROM slo_member_minutes)"
)
_SLO_DAYS = (  # ranges of the primary keys (slo, minute)
    "SELECT day, SUM(good), SUM(total) FROM ("
    f"SELECT minute / 1440 AS day, good, total FROM {_COUNTED} AS m "
    "WHERE slo = $1 AND minute >= $2 AND minute < $3 UNION ALL "
    "SELECT minute / 1440 AS day, good, total FROM slo_hours "
    "WHERE slo = $1 AND minute >= $2 AND minute < $3"
    ") AS counted GROUP BY day ORDER BY day"
)
# The rows from minute $1 on, in key order, of the SLOs in $2 when _NAMED fills the gap
# (in each table: the primary keys are used, not the union scanned for each chunk).
_LOAD_SLO_MINUTES = (
    "SELECT slo, minute, SUM(good), SUM(total) FROM ("
    "SELECT slo, minute, good, total FROM slo_minutes WHERE minute >= $1 {0}UNION ALL "
    "SELECT slo, minute, good, total FROM slo_member_minutes WHERE minute >= $1 {0}"
    ") AS m "
    "GROUP BY slo, minute ORDER BY slo, minute"
)
# The other members' sums of the minutes from $2 on that one of them wrote at or after
# $3 (database time; the member-less rows of older versions too when $3 <= 0).
_OTHERS_SLO_MINUTES = (
    "WITH touched AS (SELECT slo, minute FROM slo_member_minutes "
    "WHERE written >= $3 AND member <> $1 AND minute >= $2 UNION "
    "SELECT slo, minute FROM slo_minutes WHERE $3 <= 0 AND minute >= $2) "
    "SELECT slo, minute, SUM(good), SUM(total), MAX(written) FROM ("
    "SELECT slo, minute, good, total, written FROM slo_member_minutes "
    "WHERE member <> $1 AND minute >= $2 UNION ALL "
    "SELECT slo, minute, good, total, 0 FROM slo_minutes WHERE minute >= $2"
    ") AS m JOIN touched USING (slo, minute) GROUP BY slo, minute ORDER BY minute, slo"
)
_LOAD_SLO_HOURS = (
    "SELECT slo, minute, good, total, first FROM slo_hours WHERE minute >= $1 {}"
    "ORDER BY slo, minute"
)
_NAMED = "AND slo = ANY($2::text[]) "  # its own condition: the primary key is used
# As in SQLite (sentinel/store/sqlite_slo.py): the minutes before $1 of the SLOs in $3 (or
# all but them) summed per hour starting $2 minutes past the UTC hour, split at the UTC
# hour, added to the rows already rolled.
_ROLL_UP_SLO_MINUTES = (
    "INSERT INTO slo_hours (slo, minute, good, total, first) "
    "SELECT slo, GREATEST(minute - minute % 60, minute - ((minute - $2) % 60 + 60) % 60) "
    "AS start, SUM(good), SUM(total), MIN(minute) FROM " + _COUNTED + " AS m "
    "WHERE minute < $1 AND {} GROUP BY slo, start "
    "ON CONFLICT (slo, minute) DO UPDATE SET good = slo_hours.good + excluded.good, "
    "total = slo_hours.total + excluded.total, first = LEAST(slo_hours.first, excluded.first)"
)


_SAVE_HOLD = (
    "INSERT INTO inhibition_holds VALUES ($1, $2, $3) ON CONFLICT (fingerprint) "
    "DO UPDATE SET labels = excluded.labels, resolved_at = excluded.resolved_at"
)
_LOAD_HOLDS = (
    "SELECT fingerprint, labels, resolved_at FROM inhibition_holds WHERE resolved_at >= $1 "
    "ORDER BY resolved_at, fingerprint"
)
# One roll-up at a time: two members rolling up at once would both read the minutes
# before either deletes them, and add them to the hours twice.
_ROLL_UP_LOCK = "SELECT pg_advisory_xact_lock(hashtext('sentinel slo roll-up'))"


def _load(sql: str, since_minute: int, slos: Sequence[str] | None) -> tuple[str, list[object]]:
    """A load statement and its arguments: of every SLO, or of those named."""
    if slos is None:
        return sql.format(""), [since_minute]
    return sql.format(_NAMED), [since_minute, list(slos)]


class PostgresSlo(PostgresHistory):
    async def save_slo_minutes(
        self, rows: Sequence[tuple[str, int, int, int]], member: str = ""
    ) -> None:
        if rows:
            args = [(*row, member) for row in rows]
            await self._run(
                "saving SLO counters", lambda c: c.executemany(_SAVE_SLO_MINUTE, args), tx=True
            )

    async def others_slo_minutes(
        self, member: str, since_minute: int, written_since: float
    ) -> list[SloWritten]:
        rows = await self._fetch(
            "reading SLO counters", _OTHERS_SLO_MINUTES, member, since_minute, written_since
        )
        return [(str(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows]

    async def load_slo_minutes(
        self, since_minute: int, slos: Sequence[str] | None = None
    ) -> list[tuple[str, int, int, int]]:
        sql, args = _load(_LOAD_SLO_MINUTES, since_minute, slos)
        rows = await self._fetch("reading SLO counters", sql, *args)
        return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def slo_days(self, slo: str, since_minute: int, until_minute: int) -> list[SloDay]:
        rows = await self._fetch("reading SLO days", _SLO_DAYS, slo, since_minute, until_minute)
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def load_slo_hours(
        self, since_minute: int, slos: Sequence[str] | None = None
    ) -> list[SloHour]:
        sql, args = _load(_LOAD_SLO_HOURS, since_minute, slos)
        rows = await self._fetch("reading SLO hours", sql, *args)
        return [(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    async def roll_up_slo_minutes(
        self, before_minute: int, shifts: Mapping[str, int] | None = None
    ) -> int:
        groups = shift_groups(shifts or {})

        async def roll_up(conn: Conn) -> int:
            await conn.execute(_ROLL_UP_LOCK)
            for shift, names, among in groups:
                where = "slo = ANY($3::text[])" if among else "slo <> ALL($3::text[])"
                sql = _ROLL_UP_SLO_MINUTES.format(where)
                await conn.execute(sql, before_minute, shift, names)
            gone = 0
            for table in ("slo_minutes", "slo_member_minutes"):
                done = await conn.execute(f"DELETE FROM {table} WHERE minute < $1", before_minute)
                gone += int(str(done).rsplit(" ", 1)[-1])
            return gone

        return await self._run("rolling up SLO counters", roll_up, tx=True)

    async def prune_slo_minutes(self, before_minute: int) -> int:
        async def prune(conn: Conn) -> int:
            gone = 0
            for table in ("slo_minutes", "slo_member_minutes", "slo_hours"):
                done = await conn.execute(f"DELETE FROM {table} WHERE minute < $1", before_minute)
                gone += int(str(done).rsplit(" ", 1)[-1])
            return gone

        return await self._run("pruning SLO counters", prune, tx=True)

    async def save_holds(
        self, saved: Sequence[HoldRow], deleted: Sequence[str], before: float
    ) -> None:
        rows = [(fp, json.dumps(labels), at) for fp, labels, at in saved]

        async def save(conn: Conn) -> None:
            if rows:
                await conn.executemany(_SAVE_HOLD, rows)
            if deleted:
                await conn.execute(
                    "DELETE FROM inhibition_holds WHERE fingerprint = ANY($1::text[])",
                    list(deleted),
                )
            await conn.execute("DELETE FROM inhibition_holds WHERE resolved_at < $1", before)

        await self._run("saving inhibition holds", save, tx=True)

    async def load_holds(self, since: float) -> list[HoldRow]:
        rows = await self._fetch("reading inhibition holds", _LOAD_HOLDS, since)
        return [(str(r[0]), json.loads(r[1]), float(r[2])) for r in rows]
