"""The cluster's wiring, kept out of daemon.py: which membership this process has,
the clock it keeps time by, the gates it puts on the dispatcher and the escalator,
and the loop that takes over outbox rows other members left unsent.

With SQLite (one process) :func:`build` returns a :class:`Node` holding the trivial
:class:`~sentinel.cluster.membership.Membership`: no task, no gate, no query, and
the daemon's hot path is exactly what it was. With PostgreSQL it returns a
:class:`ClusterNode`: the heartbeat, claims and the database's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from sentinel import __version__
from sentinel.app.shared_results import SharedResults, Wanted
from sentinel.clock import Clock
from sentinel.cluster.claims import Claims
from sentinel.cluster.dbclock import DbClock, OffsetClock
from sentinel.cluster.heartbeat import ClusterMembership
from sentinel.cluster.membership import Member, Membership, live_members, new_member_id
from sentinel.cluster.pg import ClusterDb
from sentinel.config import Config
from sentinel.config.settings import Settings
from sentinel.escalation.escalator import Escalator
from sentinel.metrics import Metrics
from sentinel.notify.dispatcher import Dispatcher
from sentinel.rules.engine import Instance, RuleEngine
from sentinel.store.migrations import LATEST
from sentinel.store.protocols import AlertStore, LatestStore

log = structlog.get_logger("sentinel.cluster")
ADOPT_GRACE = 2.0  # seconds a row's writer has to claim it before others look at it
JOIN_WAIT = 10.0  # at start, how long to wait for the first heartbeat before serving anyway


def _member(settings: Settings, clock: Clock) -> Member:
    now = clock.now().timestamp()
    return Member(
        id=settings.member_id or new_member_id(),
        location=settings.location,
        version=__version__,
        schema_version=LATEST,
        started=now,
        heartbeat=now,
    )


class Node:
    """One process on its own (SQLite): a membership of one, nothing to run."""

    def __init__(self, membership: Membership) -> None:
        self.membership = membership
        self.clock = membership.clock
        self.owned_checks: dict[str, int] = {}  # member id -> checks it owns (cluster-checks)
        # Several replicas: every member's pending and firing alerts as the store had them
        # at the last heartbeat, so an ack or an ack link reaching a member that does not
        # evaluate the alert still finds it (empty for one process).
        self.shared: dict[str, Instance] = {}
        self.escalator: Escalator | None = None  # a cluster member's, once started
        # Several replicas: the latest results of the checks other members probe, read
        # from the store every few seconds (None for one process: it has them all).
        self.results: SharedResults | None = None

    async def read_shared(self) -> bool:
        """Read :attr:`shared` from the store now (several replicas); False for one
        process, which has nothing to read."""
        return False

    def share_results(self, store: LatestStore, wanted: Callable[[], Wanted]) -> None:
        """Show the checks other members probe (a cluster member only; see
        app/shared_results.py): read from the store once the node starts."""
        return None

    def members(self) -> list[dict[str, Any]]:
        """The members as the status page lists them, from the last heartbeat (no
        query); empty for one process."""
        return []

    async def start(
        self, dispatcher: Dispatcher, escalator: Escalator, metrics: Metrics, store: AlertStore
    ) -> None:
        metrics.cluster_members.set(1)
        metrics.cluster_leader.set(1)

    async def stop(self) -> None:
        return None

    async def adopt_checks(self, rules: RuleEngine, store: AlertStore, checks: list[str]) -> int:
        """Checks that moved to this member: their stored alert states (pending ``for``
        timers, firing alerts) join the rule engine. Nothing moves without a cluster."""
        return 0

    def readiness(self) -> dict[str, Any]:
        return {}

    async def status(self) -> dict[str, Any]:
        me = self.membership.me
        return {
            "clustered": False,
            "member": me.id,
            "database_time": self.clock.now().timestamp(),
            "clock_offset_seconds": 0.0,
            "lease_seconds": None,
            "leader": me.id,
            "members": [_shown(me, True, True, self.owned_checks.get(me.id), True)],
            "locations": {me.location: [me.id]},
            "alert_claims": {},
            "outbox_claims": {},
            "outbox_open": None,
        }


class ClusterNode(Node):
    """A member of a cluster on PostgreSQL."""

    membership: ClusterMembership

    def __init__(self, membership: ClusterMembership, send_timeout: float) -> None:
        super().__init__(membership)
        self.db = membership.db
        self.claims = Claims(membership, self.db, send_timeout)
        self._metrics: Metrics | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._alerts: AlertStore | None = None  # where shared is read from, once started

    async def read_shared(self) -> bool:
        """An answer naming an alert this member does not know yet (taken by another
        member since the last heartbeat's read, or while this one was cut off from the
        store) reads every member's alerts again rather than answering "no such
        alert"; False when it cannot."""
        if self._alerts is None:
            return False
        try:
            await self._read_shared(self._alerts)
        except Exception as exc:
            log.warning("cluster_shared_read_failed", error=type(exc).__name__)
            return False
        return True

    async def _read_shared(self, store: AlertStore) -> None:
        self.shared = {i.fingerprint: i for i in await store.load_alerts()}

    def share_results(self, store: LatestStore, wanted: Callable[[], Wanted]) -> None:
        self.results = SharedResults(store, self.membership.clock, wanted)

    async def start(
        self, dispatcher: Dispatcher, escalator: Escalator, metrics: Metrics, store: AlertStore
    ) -> None:
        """Join (wait for the first heartbeat, bounded), gate the dispatcher and the
        escalator, and start the heartbeat and the adoption loop."""
        self._metrics = metrics
        self._alerts = store
        self.membership.subscribe(self._changed)
        dispatcher.gate = self.claims
        escalator.gate = self.claims
        self.escalator = escalator
        clock = self.membership.clock
        deadline = clock.monotonic() + JOIN_WAIT
        while not await self.membership.beat() and clock.monotonic() < deadline:
            await clock.sleep(0.5)
        self._changed()
        self._tasks = [
            asyncio.ensure_future(self.membership.run()),
            asyncio.ensure_future(self._adopt(dispatcher, store)),
        ]
        if self.results is not None:
            self._tasks.append(asyncio.ensure_future(self.results.run()))

    async def stop(self) -> None:
        """Stop the heartbeat and leave (our row goes: the others take over at once)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.membership.leave()

    async def adopt_checks(self, rules: RuleEngine, store: AlertStore, checks: list[str]) -> int:
        return rules.adopt(checks, await store.load_alerts()) if checks else 0

    def _changed(self) -> None:
        if self._metrics is not None:
            self._metrics.cluster_members.set(len(self.membership.live()))
            self._metrics.cluster_leader.set(1 if self.membership.leader else 0)

    async def _adopt(self, dispatcher: Dispatcher, store: AlertStore) -> None:
        """Queue open outbox rows nobody holds: written by a member that died before
        sending them, or whose sender's claim ran out. The claim picks the sender.
        Also refresh :attr:`shared`."""
        while True:
            await self.membership.clock.sleep(self.membership.interval)
            if not self.membership.acting:
                continue
            try:
                await self._read_shared(store)
                found = dispatcher.adopt(await self.db.unclaimed(ADOPT_GRACE))
            except Exception as exc:
                log.warning("cluster_adopt_failed", error=type(exc).__name__)
                continue
            if found:
                log.info("cluster_outbox_adopted", rows=found)

    def readiness(self) -> dict[str, Any]:
        m = self.membership
        return {
            "ready": m.acting,
            "cluster_lease_held": m.healthy,
            "reason": m.reason if not m.acting else None,
        }

    def _listed(self, now: float) -> tuple[list[dict[str, Any]], dict[str, list[str]], str | None]:
        """The members at the last heartbeat as ``now`` sees them, the live ones by
        location, and the leader."""
        m = self.membership
        beat = m.last
        rows = beat.rows if beat is not None else []
        members = beat.members if beat is not None else []
        live = {x.id for x in live_members(members, now, m.lease)}
        leader = next((r["id"] for r in rows if r["leader"] and r["id"] in live), None)
        shown = []
        locations: dict[str, list[str]] = {}
        for member, row in zip(members, rows, strict=True):
            owned = self.owned_checks.get(member.id, row["owned_checks"])
            shown.append(_shown(member, member.id in live, member.connected, owned, False, now))
            if member.id in live:
                locations.setdefault(member.location, []).append(member.id)
        return shown, locations, leader

    def members(self) -> list[dict[str, Any]]:
        shown, _, leader = self._listed(self.membership.now())
        me = self.membership.me.id
        return [dict(x, leader=x["id"] == leader, here=x["id"] == me) for x in shown]

    async def status(self) -> dict[str, Any]:
        m = self.membership
        claims: dict[str, Any] = {"alerts": {}, "outbox": {}, "outbox_open": None}
        try:
            claims = await self.db.claims()
        except Exception as exc:  # the status still shows what the last heartbeat saw
            log.warning("cluster_status_failed", error=type(exc).__name__)
        now = claims.get("db_now") or m.now()
        shown, locations, leader = self._listed(now)
        return {
            "clustered": True,
            "member": m.me.id,
            "database_time": now,
            "clock_offset_seconds": round(m.dbclock.seconds, 3),
            "lease_seconds": m.lease,
            "leader": leader,
            "members": shown,
            "locations": locations,
            "alert_claims": claims["alerts"],
            "outbox_claims": claims["outbox"],
            "outbox_open": claims["outbox_open"],
        }


def _shown(
    m: Member,
    live: bool,
    connected: bool,
    owned: int | None,
    alone: bool,
    now: float | None = None,
) -> dict[str, Any]:
    return {
        "id": m.id,
        "location": m.location,
        "version": m.version,
        "schema_version": m.schema_version,
        "started": m.started,
        "heartbeat": m.heartbeat,
        "heartbeat_age_seconds": None if now is None else round(max(0.0, now - m.heartbeat), 3),
        "live": live,
        "connected": connected,
        "owned_checks": owned,
    }


def build(config: Config, settings: Settings, clock: Clock) -> Node:
    """The node this process is: alone with SQLite, a cluster member with PostgreSQL."""
    if settings.test_clock_offset:
        clock = OffsetClock(clock, settings.test_clock_offset)
    scheme, _, rest = config.storage.url.get_secret_value().partition(":")
    if scheme.lower() not in ("postgresql", "postgres", "postgresql+asyncpg"):
        return Node(Membership(_member(settings, clock), clock))
    url = "postgresql:" + rest
    dbclock = DbClock(clock)
    membership = ClusterMembership(
        _member(settings, clock), dbclock, ClusterDb(url), settings.cluster_lease
    )
    return ClusterNode(membership, config.notifications.timeout)
