"""Who is alive: one row per member in the shared store, renewed by heartbeats.

A member is alive while its last heartbeat is younger than the lease (15 s by
default) *by the database's clock*, and its database session is still open (a
member killed outright closes its connections, so its death shows at once
instead of a lease later). Decisions are pure functions of the rows and ``now``
(:func:`live_members`, :func:`lease_held`); :class:`Membership` is the runtime view
the rest of the daemon reads:

- ``me``: this member; ``live()``: the live members of the last heartbeat, by id
- ``healthy``: our own lease is held (the last renewal succeeded and is younger
  than the lease): a member that is not healthy sends nothing
- ``acting``: healthy, and our code knows the database's schema version (an
  older member in a rolling upgrade keeps probing but never sends or escalates)
- ``leader``: we hold the cluster's advisory lock (scheduled reports)
- ``version`` and :meth:`Membership.subscribe`: told when the live set, our
  health or our leadership changes

:class:`Membership` itself is the single-process view (SQLite): one member, always
healthy, no I/O; the clustered one is :class:`sentinel.cluster.heartbeat.ClusterMembership`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sentinel.clock import Clock

DEFAULT_LEASE = 15.0


@dataclass(frozen=True)
class Member:
    """One member as its row says (times: unix seconds, the database's clock)."""

    id: str
    location: str
    version: str  # sentinel's version
    schema_version: int  # the newest store migration its code knows
    started: float
    heartbeat: float
    connected: bool = True  # its database session is open (False: killed, or cut off)


def live_members(members: Sequence[Member], now: float, lease: float) -> list[Member]:
    """The members whose heartbeat is younger than ``lease`` at ``now`` and whose
    session is open, sorted by id."""
    return sorted(
        (m for m in members if m.connected and now - m.heartbeat < lease), key=lambda m: m.id
    )


def lease_held(renewed_at: float | None, now: float, lease: float, margin: float) -> bool:
    """Whether our own lease still holds at ``now`` (monotonic seconds), given when the
    last successful renewal *started* (``None``: it failed or never happened). The
    ``margin`` is given up at the end: the others may see us dead that much sooner
    (their clock reads the database a little after ours did)."""
    return renewed_at is not None and now - renewed_at < lease - margin


def new_member_id(hostname: str | None = None, pid: int | None = None) -> str:
    """``hostname-pid-random``: unique even when a restarted pod keeps its name and pid."""
    host = hostname if hostname is not None else socket.gethostname()
    return f"{host or 'sentinel'}-{pid if pid is not None else os.getpid()}-{secrets.token_hex(3)}"


class Membership:
    """The membership of a single process: one member, always healthy and leader.
    The clustered subclass replaces the state through :meth:`_update`."""

    clustered = False

    def __init__(self, me: Member, clock: Clock, lease: float = DEFAULT_LEASE) -> None:
        self.me = me
        self.clock = clock
        self.lease = lease
        self.version = 0  # bumped on every change of the live set, health or leadership
        self._live: list[Member] = [me]
        self._healthy = True
        self._leader = True
        self._schema_current = True
        self.reason: str | None = None  # why we are not healthy or not acting, if so
        self._listeners: list[Callable[[], None]] = []

    def live(self) -> list[Member]:
        """The live members at the last heartbeat, sorted by id (us included while healthy)."""
        return list(self._live)

    @property
    def healthy(self) -> bool:
        """Our lease is held: while False, this member sends nothing."""
        return self._healthy

    @property
    def acting(self) -> bool:
        """May send and escalate: healthy and not outdated by a newer schema."""
        return self.healthy and self._schema_current

    @property
    def leader(self) -> bool:
        """Holds the cluster's leader lock (and is healthy)."""
        return self._leader and self.healthy

    def now(self) -> float:
        """Unix time on the clock leases are read by (the database's, when clustered)."""
        return self.clock.now().timestamp()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (no arguments, must not raise) after every change."""
        self._listeners.append(listener)

    def _update(
        self, live: list[Member], healthy: bool, leader: bool, schema_current: bool
    ) -> bool:
        """Take a new view; tell the listeners when it differs. True when it changed."""
        before = ([m.id for m in self._live], self._healthy, self._leader, self._schema_current)
        self._live, self._healthy, self._leader = live, healthy, leader
        self._schema_current = schema_current
        if before == ([m.id for m in live], healthy, leader, schema_current):
            return False
        self.version += 1
        for listener in list(self._listeners):
            listener()
        return True
