"""The cluster's SQL, on one dedicated PostgreSQL connection per member.

The connection is the member's presence: it holds the leader's advisory lock
(session-level, so it goes when the connection goes), and its backend pid is in
the member row, so the others see a member killed outright (its connections
closed by its kernel) at once instead of a lease later. Every time compared
here is the database's (``clock_timestamp()``); the member's clock never enters
a lease.

Tables (migration "cluster members, claims and outbox claims"):

- ``cluster_members``: one row per member, renewed by :meth:`ClusterDb.beat`
- ``cluster_claims``: who escalates which alert (``name`` = the fingerprint)
- ``outbox.claimed_by`` / ``outbox.lease_until``: who is sending a row

A claim counts only if the statement touched the row (``RETURNING``), and only
for a member whose own lease holds by the database's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from sentinel.cluster.membership import Member
from sentinel.notify.outbox import OPEN, Delivery
from sentinel.store.codec import OUTBOX_COLUMNS, delivery_of
from sentinel.store.postgres_schema import VERSION_TABLE, broken, secrets_of, store_error

# pg_advisory_lock key of the leader ("SENL"); advisory locks are per database.
LEADER_LOCK = 0x53_45_4E_4C
EPOCH = "extract(epoch from clock_timestamp())::float8"
FORGET_AFTER = 3600.0  # member rows and claims this long dead are deleted
OPEN_STATES = list(OPEN)

# One heartbeat, one round trip: take the leader lock unless we hold it ($6), renew our
# row, forget members an hour dead, and read every row with the schema version and the
# database's clock (read once). The statement's snapshot predates our own upsert, so our
# row comes from RETURNING and the table's copy of it is left out.
_BEAT = f"""
WITH me AS (
    INSERT INTO cluster_members (id, location, version, schema_version, started, heartbeat,
                                 backend_pid, lease, leader, owned_checks)
    VALUES ($1, $2, $3, $4, {EPOCH}, {EPOCH}, pg_backend_pid(), $5,
            CASE WHEN $6::boolean THEN true ELSE pg_try_advisory_lock({LEADER_LOCK}) END, $7)
    ON CONFLICT (id) DO UPDATE SET location = excluded.location,
        heartbeat = excluded.heartbeat, backend_pid = excluded.backend_pid,
        lease = excluded.lease, leader = excluded.leader, owned_checks = excluded.owned_checks
    RETURNING id, location, version, schema_version, started, heartbeat, lease, leader,
              owned_checks
), gone AS (
    DELETE FROM cluster_members WHERE heartbeat < {EPOCH} - $8 AND id <> $1
)
SELECT r.*, t.db_now, t.schema
FROM (
    SELECT m.id, m.location, m.version, m.schema_version, m.started, m.heartbeat, m.lease,
           m.leader, m.owned_checks,
           COALESCE(m.backend_pid IN (SELECT pid FROM pg_stat_activity), false) AS connected
    FROM cluster_members m WHERE m.id <> $1
    UNION ALL
    SELECT me.*, true FROM me
) r CROSS JOIN (
    SELECT {EPOCH} AS db_now,
           (SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}) AS schema
) t
ORDER BY r.id
"""
_ROW = (
    "id",
    "location",
    "version",
    "schema_version",
    "started",
    "heartbeat",
    "lease",
    "leader",
    "owned_checks",
    "connected",
)


# The member named in ``column`` has no open session: killed (its kernel closed its
# connections) or cut off; what it holds can be taken at once.
def _gone(column: str) -> str:
    return (
        "NOT EXISTS (SELECT 1 FROM cluster_members m JOIN pg_stat_activity a "
        f"ON a.pid = m.backend_pid WHERE m.id = {column})"
    )


# A member may claim only while its own lease holds by the database's clock.
_ALIVE = (
    "EXISTS (SELECT 1 FROM cluster_members me "
    f"WHERE me.id = $1 AND me.heartbeat > {EPOCH} - me.lease)"
)
_CLAIM_OUTBOX = f"""
UPDATE outbox SET claimed_by = $1, lease_until = {EPOCH} + $3
WHERE id = ANY($2::bigint[]) AND state = ANY($4::text[])
  AND (claimed_by IS NULL OR claimed_by = $1 OR lease_until < {EPOCH}
       OR {_gone("outbox.claimed_by")})
  AND {_ALIVE}
RETURNING id
"""
# Open rows nobody holds (never claimed, the claim ran out, or its holder's session is
# gone) and older than a grace period: their writer had its chance to send them first.
_UNCLAIMED = f"""
SELECT id, {OUTBOX_COLUMNS} FROM outbox
WHERE state = ANY($1::text[])
  AND (claimed_by IS NULL OR lease_until < {EPOCH} OR {_gone("outbox.claimed_by")})
  AND created_at < {EPOCH} - $2
ORDER BY id LIMIT $3
"""
# An alert's escalation claim passes to another member when its holder's claim ran
# out or its session is gone (killed: seen at once). Outbox claims pass the same way:
# a sender that lost its session cannot record a send either, so waiting for its
# claim to run out would only delay the repeat, not prevent it.
_HOLD = f"""
INSERT INTO cluster_claims (name, member, lease_until)
SELECT n, $1, {EPOCH} + $3 FROM unnest($2::text[]) AS n WHERE {_ALIVE}
ON CONFLICT (name) DO UPDATE SET member = excluded.member, lease_until = excluded.lease_until
WHERE cluster_claims.member = excluded.member OR cluster_claims.lease_until < {EPOCH}
   OR {_gone("cluster_claims.member")}
RETURNING name
"""


@dataclass(frozen=True)
class Beat:
    """What one heartbeat learnt."""

    db_now: float
    sent: float  # our clock when the heartbeat started
    answered: float  # our clock when it was answered
    members: list[Member]
    leader: bool  # we hold the leader lock
    schema: int  # the database's schema version
    rows: list[dict[str, Any]]  # the member rows as read (status)


class ClusterDb:
    """The member's dedicated connection and the cluster's statements. Every call
    raises :class:`~sentinel.store.StoreError` (scrubbed of the URL) on failure and
    drops the connection when it broke; the next call connects again."""

    def __init__(self, dsn: str, *, timeout: float = 5.0) -> None:
        self._dsn = dsn
        self._secrets = secrets_of(dsn)
        self._timeout = timeout
        self._conn: Any = None  # asyncpg.Connection: asyncpg has no type hints
        self._lock = asyncio.Lock()
        self._leader = False

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._leader = False
            self._conn = await asyncpg.connect(
                self._dsn,
                timeout=self._timeout,
                command_timeout=self._timeout,
                server_settings={"application_name": "sentinel-cluster"},
            )
        return self._conn

    async def _do(self, what: str, op: Any) -> Any:
        async with self._lock:
            try:
                conn = await self._connection()
                return await op(conn)
            except Exception as exc:
                if self._conn is not None and (broken(exc) or isinstance(exc, TimeoutError)):
                    self.drop()
                err = store_error(exc, f"cluster: {what}", self._secrets)
                if err is None:
                    raise
                raise err from None

    def drop(self) -> None:
        """Close the connection at once (leadership and presence go with it)."""
        conn, self._conn, self._leader = self._conn, None, False
        if conn is not None:
            conn.terminate()

    async def close(self, me: str | None = None) -> None:
        """Leave: delete our row (when ``me``), then close."""
        if me is not None and self._conn is not None and not self._conn.is_closed():
            # leaving is best effort: the lease ends it anyway
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._conn.execute("DELETE FROM cluster_members WHERE id = $1", me), 2.0
                )
        self.drop()

    # -- heartbeats ----------------------------------------------------------

    async def beat(
        self, me: Member, lease: float, owned: int | None, wall: Callable[[], float]
    ) -> Beat:
        """Renew our row and read everyone's; ``wall``: the clock whose offset to the
        database's is measured (unix seconds)."""

        async def op(conn: Any) -> Beat:
            sent = wall()
            found = await conn.fetch(
                _BEAT,
                me.id,
                me.location,
                me.version,
                me.schema_version,
                lease,
                self._leader,
                owned,
                FORGET_AFTER,
            )
            answered = wall()
            ours = next(r for r in found if r["id"] == me.id)
            self._leader = bool(ours["leader"])
            rows = [{k: r[k] for k in _ROW} for r in found]
            members = [
                Member(
                    r["id"],
                    r["location"],
                    r["version"],
                    int(r["schema_version"]),
                    float(r["started"]),
                    float(r["heartbeat"]),
                    bool(r["connected"]),
                )
                for r in rows
            ]
            db_now, schema = float(ours["db_now"]), int(ours["schema"])
            return Beat(db_now, sent, answered, members, self._leader, schema, rows)

        result: Beat = await self._do("heartbeat", op)
        return result

    # -- claims --------------------------------------------------------------

    async def claim_outbox(self, member: str, ids: Sequence[int], lease: float) -> set[int]:
        """The rows of ``ids`` now ours to send (an empty set: someone else's, or sent)."""
        rows = await self._do(
            "claiming outbox rows",
            lambda c: c.fetch(_CLAIM_OUTBOX, member, list(ids), lease, OPEN_STATES),
        )
        return {int(r["id"]) for r in rows}

    async def unclaimed(self, grace: float, limit: int = 1000) -> list[Delivery]:
        """Open outbox rows nobody holds, older than ``grace`` seconds (database clock)."""
        rows = await self._do(
            "reading unclaimed outbox rows",
            lambda c: c.fetch(_UNCLAIMED, OPEN_STATES, grace, limit),
        )
        return [delivery_of(r) for r in rows]

    async def hold(self, member: str, names: Sequence[str], lease: float) -> set[str]:
        """Claim (or renew) the escalation of each alert in ``names``; the ones we hold."""
        if not names:
            return set()
        rows = await self._do(
            "claiming alerts", lambda c: c.fetch(_HOLD, member, list(names), lease)
        )
        return {str(r["name"]) for r in rows}

    async def release(self, member: str, names: Sequence[str]) -> None:
        await self._do(
            "releasing alerts",
            lambda c: c.execute(
                "DELETE FROM cluster_claims WHERE member = $1 AND name = ANY($2::text[])",
                member,
                list(names),
            ),
        )

    async def claims(self) -> dict[str, Any]:
        """For status: alert claims and open outbox claims per member, and the database time."""

        async def op(conn: Any) -> dict[str, Any]:
            alerts = await conn.fetch(
                f"SELECT member, count(*) AS n FROM cluster_claims WHERE lease_until > {EPOCH} "
                "GROUP BY member"
            )
            outbox = await conn.fetch(
                "SELECT claimed_by, count(*) AS n FROM outbox WHERE state = ANY($1::text[]) "
                f"AND claimed_by IS NOT NULL AND lease_until > {EPOCH} GROUP BY claimed_by",
                OPEN_STATES,
            )
            open_rows = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE state = ANY($1::text[])", OPEN_STATES
            )
            await conn.execute(
                f"DELETE FROM cluster_claims WHERE lease_until < {EPOCH} - $1", FORGET_AFTER
            )
            return {
                "alerts": {str(r["member"]): int(r["n"]) for r in alerts},
                "outbox": {str(r["claimed_by"]): int(r["n"]) for r in outbox},
                "outbox_open": int(open_rows),
                "db_now": float(await conn.fetchval(f"SELECT {EPOCH}")),
            }

        result: dict[str, Any] = await self._do("reading claims", op)
        return result
