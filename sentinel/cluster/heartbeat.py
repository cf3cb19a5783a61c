"""The clustered membership: a heartbeat every lease/3 that renews our row, measures
the database's clock, takes or keeps the leader lock and reads who else is alive, in
one statement (one round trip, which is also the one the clock's offset is measured on).

A heartbeat that fails (or does not answer within lease/3) makes us unhealthy at
once: from then on this member sends and escalates nothing until a heartbeat
succeeds again. Even without a failed heartbeat, a lease that has not been
renewed in time (:func:`~sentinel.cluster.membership.lease_held`, on the
monotonic clock, from when the last good renewal *started*) counts as lost, so
a heartbeat stuck on a dead network cannot keep us sending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from sentinel.cluster.dbclock import DbClock, offset_of
from sentinel.cluster.membership import DEFAULT_LEASE, Member, Membership, lease_held, live_members
from sentinel.cluster.pg import Beat, ClusterDb

log = structlog.get_logger("sentinel.cluster")
MARGIN = 1.0  # seconds of our lease given up: the others may read the database a bit later


class ClusterMembership(Membership):
    clustered = True

    def __init__(
        self,
        me: Member,
        clock: DbClock,
        db: ClusterDb,
        lease: float = DEFAULT_LEASE,
        *,
        owned: Callable[[], int | None] = lambda: None,
    ) -> None:
        super().__init__(me, clock, lease)
        self.dbclock = clock
        self.db = db
        self.owned = owned  # how many checks we own (cluster-checks fills it), for status
        self._healthy = False
        self._leader = False
        self.reason = "not joined yet"
        self._renewed: float | None = None  # monotonic time the last good renewal started
        self.last: Beat | None = None
        self.failures = 0

    @property
    def interval(self) -> float:
        return self.lease / 3

    @property
    def healthy(self) -> bool:
        return self._healthy and lease_held(
            self._renewed, self.clock.monotonic(), self.lease, MARGIN
        )

    async def beat(self) -> bool:
        """One heartbeat; True when it renewed our lease."""
        started = self.clock.monotonic()
        try:
            beat = await asyncio.wait_for(
                self.db.beat(self.me, self.lease, self.owned(), self._wall), self.interval
            )
        except Exception as exc:  # StoreError, a timeout, or a lost connection
            self.db.drop()  # a half-answered session must not keep the leader lock
            self.failures += 1
            reason = str(exc) or type(exc).__name__
            if self._healthy or self.failures == 1:
                log.error("cluster_lease_lost", member=self.me.id, reason=reason)
            self._renewed = None
            self.reason = f"cannot renew the cluster lease: {reason}"
            # live() keeps the last view (whoever probes what carries on locally);
            # healthy and leader go at once: nothing leaves this member.
            self._update(self._live, False, False, self._schema_current)
            return False
        offset = offset_of(beat.sent, beat.answered, beat.db_now)
        if offset is not None:
            self.dbclock.follow(offset)
        self.last = beat
        self._renewed = started
        self.failures = 0
        schema_current = beat.schema <= self.me.schema_version
        self.reason = (
            None
            if schema_current
            else f"outdated: the database has schema {beat.schema}, this sentinel knows "
            f"{self.me.schema_version}; it neither sends nor escalates"
        )
        live = live_members(beat.members, beat.db_now, self.lease)
        was = self._healthy
        if self._update(live, True, beat.leader, schema_current):
            log.info(
                "cluster_membership_changed",
                member=self.me.id,
                live=[m.id for m in live],
                leader=beat.leader,
                recovered=not was or None,
                offset=round(self.dbclock.seconds, 3),
            )
        return True

    def _wall(self) -> float:
        """The clock the DbClock corrects (the host's, or a test's skewed one)."""
        return self.dbclock.base.now().timestamp()

    async def run(self) -> None:
        """Heartbeat until cancelled, every lease/3 (sooner after a failure)."""
        while True:
            ok = await self.beat()
            await self.clock.sleep(self.interval if ok else min(1.0, self.interval))

    async def leave(self) -> None:
        """On a clean stop: our row goes, so the others rebalance at once."""
        self._update([], False, False, self._schema_current)
        await self.db.close(self.me.id)
