"""``sentinel store copy``: all state from one store into another, either way between
SQLite and PostgreSQL, idempotent, with rows and a checksum per table on both sides.

What is copied: keys (the ack secret), heartbeats, alerts (pending ones keep their
``for``), silences, escalations, the outbox (ids kept), incidents with their
timelines, daily uptime, SLO minute and hour counters, and results from ``since`` on.
Rows with a key replace the destination's; an incident's timeline and the results from
``since`` are replaced whole, so running the copy twice gives the same destination.

The checksum of a table does not depend on row order: the sum, modulo 2**64, of a
hash of each row's values. The source is then marked as moved (``moved_to`` in its
keys) and refuses to start, naming the destination, unless forced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentinel.store import MOVED_KEY, open_store
from sentinel.store.codec import (
    ALERT_COLUMNS,
    INCIDENT_COLUMNS,
    OUTBOX_COLUMNS,
    RESULT_COLUMNS,
    SILENCE_COLUMNS,
)
from sentinel.store.tables import Row, Tables, tables_of


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: str
    key: str | None  # None: replaced whole (see copy_table)
    where: str = ""
    order: str = ""


def tables(since: float | None) -> list[Table]:
    since_sql = "" if since is None else f"started_at >= {float(since)!r}"
    return [
        Table("keys", "name, value", "name", f"name != '{MOVED_KEY}'"),
        Table("heartbeats", "name, success, start, fail, last_duration", "name"),
        Table("alerts", ALERT_COLUMNS, "fingerprint"),
        Table("silences", SILENCE_COLUMNS, "id"),
        Table("escalations", "fingerprint, progress, updated_at", "fingerprint"),
        Table("outbox", "id, " + OUTBOX_COLUMNS, "dedup", order="id"),
        Table("incidents", INCIDENT_COLUMNS, "id"),
        Table("incident_events", "incident_id, at, kind, text, detail", None, order="at, {seq}"),
        Table("uptime_daily", "check_name, day, ok, total, duration_sum", "check_name, day"),
        Table("slo_minutes", "slo, minute, good, total", "slo, minute"),
        Table(
            "slo_member_minutes",
            "slo, minute, member, good, total, written",
            "slo, minute, member",
        ),
        Table("slo_hours", "slo, minute, good, total, first", "slo, minute"),
        Table("inhibition_holds", "fingerprint, labels, resolved_at", "fingerprint"),
        Table("results", RESULT_COLUMNS, None, since_sql, order="started_at"),
    ]


@dataclass
class Count:
    rows: int = 0
    checksum: int = 0

    def add(self, rows: list[Row]) -> None:
        self.rows += len(rows)
        for row in rows:
            digest = hashlib.blake2b(repr(_plain(row)).encode(), digest_size=8).digest()
            self.checksum = (self.checksum + int.from_bytes(digest, "big")) % 2**64

    @property
    def hex(self) -> str:
        return f"{self.checksum:016x}"


def _plain(row: Row) -> tuple[Any, ...]:
    """Values as both databases give them back: floats as floats, ints as ints."""
    return tuple(float(v) if isinstance(v, float) else v for v in row)


def _select(t: Table, db: Tables) -> str:
    sql = f"SELECT {t.columns} FROM {t.name}"
    if t.where:
        sql += f" WHERE {t.where}"
    return sql + (f" ORDER BY {t.order.format(seq=db.seq)}" if t.order else "")


def _upsert(t: Table) -> str:
    names = [c.strip() for c in t.columns.split(",")]
    keys = {k.strip() for k in (t.key or "").split(",")}
    marks = ", ".join("?" for _ in names)
    sets = ", ".join(f"{c} = excluded.{c}" for c in names if c not in keys)
    sql = f"INSERT INTO {t.name} ({t.columns}) VALUES ({marks})"
    return sql + (f" ON CONFLICT ({t.key}) DO UPDATE SET {sets}" if t.key else "")


async def count(db: Tables, t: Table) -> Count:
    c = Count()
    async for rows in db.read(_select(t, db)):
        c.add(rows)
    return c


async def copy_table(
    src: Tables, dst: Tables, t: Table, progress: Callable[[str, int], None]
) -> Count:
    """Rows of ``t`` from ``src`` into ``dst`` (inside dst's transaction); returns the
    source's count. Tables without a key are replaced: results from ``since``, and
    the timelines of the incidents copied."""
    if t.name == "results":
        await dst.execute("DELETE FROM results" + (f" WHERE {t.where}" if t.where else ""))
    if t.name == "incident_events":
        ids = [(r[0],) async for batch in src.read("SELECT id FROM incidents") for r in batch]
        await dst.executemany("DELETE FROM incident_events WHERE incident_id = ?", ids)
    c = Count()
    sql = _upsert(t)
    async for rows in src.read(_select(t, src)):
        c.add(rows)
        await dst.executemany(sql, rows)
        progress(t.name, c.rows)
    await dst.after_copy(t.name)
    return c


@dataclass(frozen=True, slots=True)
class Line:
    table: str
    source: Count
    destination: Count

    @property
    def same(self) -> bool:
        return (self.source.rows, self.source.checksum) == (
            self.destination.rows,
            self.destination.checksum,
        )


async def copy_store(
    from_url: str,
    to_url: str,
    *,
    since: float | None = None,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> list[Line]:
    """Copy everything (see the module); returns one line per table. Both stores are
    migrated first; the destination loses its moved mark; the source gets one when
    every table has the same rows and checksum on both sides."""
    stores = [open_store(from_url, force=True), open_store(to_url, force=True)]
    for s in stores:
        await s.open()  # migrates
        await s.close()
    src, dst = (tables_of(s) for s in stores)
    await src.connect()
    try:
        await dst.connect()
        try:
            lines = []
            async with dst.transaction():
                await dst.execute(f"DELETE FROM keys WHERE name = '{MOVED_KEY}'")
                for t in tables(since):
                    lines.append(Line(t.name, await copy_table(src, dst, t, progress), Count()))
            lines = [
                Line(line.table, line.source, await count(dst, t))
                for line, t in zip(lines, tables(since), strict=True)
            ]
            await src.execute(
                f"INSERT INTO keys (name, value) VALUES ('{MOVED_KEY}', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (dst.where,),
            )
            return lines
        finally:
            await dst.close()
    finally:
        await src.close()
