"""The PostgreSQL store: the Store protocol on asyncpg, a small connection pool.

Every write SQLite does in one transaction is one transaction here. asyncpg
prepares each statement once per connection and keeps it (its statement cache):
the hot path (results, alerts, outbox) runs prepared statements. Results go in
with ``COPY`` (``copy_records_to_table``), one batch per call.

Failures are :class:`StoreError` with ``transient`` set as
:func:`sentinel.store.postgres_schema.store_error` says. A call that meets a lost
connection, a serialization failure or a lock timeout is retried at once on
another connection, then after short pauses (``retry_pauses``); when that is not
enough, the StoreError goes to the caller, which keeps its rows (the history
writer's buffer, the outbox's open rows) and tries again later. Messages never
hold the URL or its password.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from sentinel.cluster.quorum import View
from sentinel.notify.base import firing_id
from sentinel.notify.outbox import OPEN, Delivery
from sentinel.probes.heartbeats import Beat
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance
from sentinel.store import MOVED_KEY, StoreError, refuse_moved
from sentinel.store.codec import (
    ALERT_COLUMNS,
    END_KEY,
    OUTBOX_COLUMNS,
    SILENCE_COLUMNS,
    SPOKE_KEY,
    VIEW_COLUMNS,
    alert_of,
    alert_row,
    delivery_of,
    delivery_row,
    delivery_update,
    dt,
    dumps,
    loads,
    shared_rows,
    shared_times,
    silence_of,
    silence_row,
    ts,
    view_of,
)
from sentinel.store.postgres_pool import Conn
from sentinel.store.postgres_schema import migrate
from sentinel.store.postgres_slo import PostgresSlo

# a shared time (codec.END_KEY, SPOKE_KEY): the later one stays
_KEEP_LATER = (
    "INSERT INTO keys VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = CASE "
    "WHEN CAST(keys.value AS DOUBLE PRECISION) < CAST(excluded.value AS DOUBLE PRECISION) "
    "THEN excluded.value ELSE keys.value END"
)
_SAVE_VIEW = (
    "INSERT INTO location_views VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (check_name, place) DO UPDATE SET bucket = excluded.bucket, ok = excluded.ok, "
    "error = excluded.error, at = excluded.at, duration = excluded.duration, "
    "member = excluded.member"
)
_LOAD_VIEWS = f"SELECT {VIEW_COLUMNS} FROM location_views WHERE check_name = ANY($1::text[])"

_ADD_OUTBOX = (
    f"INSERT INTO outbox ({OUTBOX_COLUMNS}) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
    "ON CONFLICT (dedup) DO NOTHING RETURNING id"
)

_OWN_ROW = "SELECT id FROM outbox WHERE dedup = $1 AND created_at = $2 AND notice = $3"


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


async def _write_alerts(conn: Conn, alerts: Sequence[Instance], deleted: Sequence[str]) -> None:
    """Inside the caller's transaction: delete ``deleted``, upsert ``alerts``."""
    if deleted:
        await conn.execute("DELETE FROM alerts WHERE fingerprint = ANY($1::text[])", list(deleted))
    if alerts:
        await conn.executemany(_SAVE_ALERT, [alert_row(a) for a in alerts])


class PostgresStore(PostgresSlo):
    async def open(self) -> None:
        """Connect, migrate (under the advisory lock) and check the store was not moved.

        StoreError on any failure: ``transient`` when the server is down or busy,
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
        """Write the pending daily uptime counts (if the database answers) and
        disconnect; a pool that does not close in time is terminated."""
        if self._pool is None:
            return
        with contextlib.suppress(StoreError):
            await self.flush_rollup()
        pool, self._pool = self._pool, None
        try:
            await asyncio.wait_for(pool.close(), self._connect_timeout)
        except TimeoutError:
            pool.terminate()
        except BaseException:
            pool.terminate()
            raise

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

    async def save_alerts(self, alerts: Sequence[Instance], deleted: Sequence[str]) -> None:
        if not alerts and not deleted:
            return
        await self._run("saving alerts", lambda c: _write_alerts(c, alerts, deleted), tx=True)

    async def load_alerts(self) -> list[Instance]:
        rows = await self._fetch("reading alerts", f"SELECT {ALERT_COLUMNS} FROM alerts")
        return [alert_of(row) for row in rows]

    async def load_external(
        self, fingerprints: Sequence[str], sources: Sequence[str]
    ) -> tuple[dict[str, Instance], dict[str, float], dict[str, float]]:
        names = [END_KEY + fp for fp in fingerprints] + [SPOKE_KEY + s for s in sources]

        async def read(conn: Any) -> tuple[list[Any], list[Any]]:
            rows = await conn.fetch(
                f"SELECT {ALERT_COLUMNS} FROM alerts WHERE fingerprint = ANY($1::text[])",
                list(fingerprints),
            )
            keys = await conn.fetch(
                "SELECT name, value FROM keys WHERE name = ANY($1::text[])", names
            )
            return rows, keys

        rows, keys = await self._run("reading inbound alerts", read)
        return {str(r[0]): alert_of(r) for r in rows}, *shared_times(keys)

    async def save_external(
        self,
        alerts: Sequence[Instance],
        deleted: Sequence[str],
        ended: Mapping[str, float],
        spoke: Mapping[str, float],
    ) -> None:
        keys = shared_rows(ended, spoke)

        async def write(conn: Any) -> None:
            await _write_alerts(conn, alerts, deleted)
            if keys:
                await conn.executemany(_KEEP_LATER, keys)

        await self._run("saving inbound alerts", write, tx=True)

    async def prune_external(self, before: float) -> int:
        done = await self._run(
            "pruning inbound alerts",
            lambda c: c.execute(
                "DELETE FROM keys WHERE left(name, $1) = $2 "
                "AND CAST(value AS DOUBLE PRECISION) < $3",
                len(END_KEY),
                END_KEY,
                before,
            ),
        )
        return int(str(done).rsplit(" ", 1)[-1])

    async def save_silence(self, silence: Silence) -> None:
        await self._execute("saving a silence", _SAVE_SILENCE, *silence_row(silence))

    async def load_silences(self) -> list[Silence]:
        rows = await self._fetch(
            "reading silences", f"SELECT {SILENCE_COLUMNS} FROM silences ORDER BY created_at"
        )
        return [silence_of(row) for row in rows]

    async def save_view(self, view: View) -> None:
        await self._run(
            "saving a location view",
            lambda c: c.execute(
                _SAVE_VIEW,
                view.check,
                view.place,
                view.bucket,
                view.ok,
                view.error,
                view.at,
                view.duration,
                view.member,
            ),
        )

    async def load_views(self, checks: Sequence[str]) -> list[View]:
        if not checks:
            return []
        rows = await self._fetch("reading location views", _LOAD_VIEWS, list(checks))
        return [view_of(tuple(r)) for r in rows]

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
        """As the Store protocol says (one transaction, dedup keys skipped, new rows
        returned with ids). When a try is retried because its connection broke, its COMMIT may have gone
        through with the answer lost: a row found with the same key, creation time
        and notice is then this call's own, and is returned (else the dispatcher
        would only learn of it at the next start)."""
        tries = 0

        async def commit(conn: Conn) -> list[Delivery]:
            nonlocal tries
            tries += 1
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
                row = delivery_row(d)
                rid = await conn.fetchval(_ADD_OUTBOX, *row)
                if rid is None and tries > 1:
                    rid = await conn.fetchval(_OWN_ROW, d.dedup, d.created_at, row[5])
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
