"""The PostgreSQL store's SLO counters (issue 19): per-minute good/total rows for the
recent hours, rolled up into hourly rows in one transaction, read back at start, summed
per day for reports, pruned past the longest window; and the SLO alerts' inhibition holds
(``inhibition_holds``). Mirrors the SQLite store's."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sentinel.store.postgres_history import PostgresHistory
from sentinel.store.postgres_pool import Conn
from sentinel.store.protocols import HoldRow, SloDay, SloHour, shift_groups

_SAVE_SLO_MINUTE = (
    "INSERT INTO slo_minutes VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (slo, minute) DO UPDATE SET good = excluded.good, total = excluded.total"
)
_SLO_DAYS = (  # ranges of the primary keys (slo, minute)
    "SELECT day, SUM(good), SUM(total) FROM ("
    "SELECT minute / 1440 AS day, good, total FROM slo_minutes "
    "WHERE slo = $1 AND minute >= $2 AND minute < $3 UNION ALL "
    "SELECT minute / 1440 AS day, good, total FROM slo_hours "
    "WHERE slo = $1 AND minute >= $2 AND minute < $3"
    ") AS counted GROUP BY day ORDER BY day"
)
# The rows of the SLOs in $2 (NULL: all) from minute $1 on, in key order.
_LOAD_SLO_MINUTES = (
    "SELECT slo, minute, good, total FROM slo_minutes WHERE minute >= $1 AND "
    "($2::text[] IS NULL OR slo = ANY($2::text[])) ORDER BY slo, minute"
)
_LOAD_SLO_HOURS = (
    "SELECT slo, minute, good, total, first FROM slo_hours WHERE minute >= $1 AND "
    "($2::text[] IS NULL OR slo = ANY($2::text[])) ORDER BY slo, minute"
)
# As in SQLite (sentinel/store/sqlite_slo.py): the minutes before $1 of the SLOs in $3 (or
# all but them) summed per hour starting $2 minutes past the UTC hour, split at the UTC
# hour, added to the rows already rolled.
_ROLL_UP_SLO_MINUTES = (
    "INSERT INTO slo_hours (slo, minute, good, total, first) "
    "SELECT slo, GREATEST(minute - minute % 60, minute - ((minute - $2) % 60 + 60) % 60) "
    "AS start, SUM(good), SUM(total), MIN(minute) FROM slo_minutes "
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


class PostgresSlo(PostgresHistory):
    async def save_slo_minutes(self, rows: Sequence[tuple[str, int, int, int]]) -> None:
        if rows:
            await self._run(
                "saving SLO counters", lambda c: c.executemany(_SAVE_SLO_MINUTE, rows), tx=True
            )

    async def load_slo_minutes(
        self, since_minute: int, slos: Sequence[str] | None = None
    ) -> list[tuple[str, int, int, int]]:
        names = None if slos is None else list(slos)
        rows = await self._fetch("reading SLO counters", _LOAD_SLO_MINUTES, since_minute, names)
        return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def slo_days(self, slo: str, since_minute: int, until_minute: int) -> list[SloDay]:
        rows = await self._fetch("reading SLO days", _SLO_DAYS, slo, since_minute, until_minute)
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def load_slo_hours(
        self, since_minute: int, slos: Sequence[str] | None = None
    ) -> list[SloHour]:
        names = None if slos is None else list(slos)
        rows = await self._fetch("reading SLO hours", _LOAD_SLO_HOURS, since_minute, names)
        return [(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    async def roll_up_slo_minutes(
        self, before_minute: int, shifts: Mapping[str, int] | None = None
    ) -> int:
        groups = shift_groups(shifts or {})

        async def roll_up(conn: Conn) -> int:
            for shift, names, among in groups:
                where = "slo = ANY($3::text[])" if among else "slo <> ALL($3::text[])"
                sql = _ROLL_UP_SLO_MINUTES.format(where)
                await conn.execute(sql, before_minute, shift, names)
            done = await conn.execute("DELETE FROM slo_minutes WHERE minute < $1", before_minute)
            return int(str(done).rsplit(" ", 1)[-1])

        return await self._run("rolling up SLO counters", roll_up, tx=True)

    async def prune_slo_minutes(self, before_minute: int) -> int:
        async def prune(conn: Conn) -> int:
            gone = 0
            for table in ("slo_minutes", "slo_hours"):
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
