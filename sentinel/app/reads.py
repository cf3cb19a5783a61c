"""The facade's read side: the status of every check and alert, one alert, the
members, readiness, uptime bars and the read-only views (:class:`Reads`; the
writes, acknowledgements and pings are :class:`~sentinel.app.facade.Facade`'s).

In a cluster, a check another member probes is shown with that member's latest
result, read from the shared store every few seconds
(:mod:`sentinel.app.shared_results`), and ``probed_by`` says whose result it is;
one process shows its own results, as before, and pays nothing for this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Protocol

from sentinel import __version__
from sentinel.app.alerts import Alerts, Firing
from sentinel.app.cluster import ClusterNode, Node
from sentinel.app.shared_results import SharedResults, Wanted, newest
from sentinel.clock import Clock, iso
from sentinel.cluster.sharing import Sharing
from sentinel.config import Config
from sentinel.config.checks import Check
from sentinel.config.models import Channel
from sentinel.escalation.desk import Desk
from sentinel.escalation.escalator import Escalator
from sentinel.notify.base import Notifier
from sentinel.notify.dispatcher import Dispatcher
from sentinel.probes.heartbeats import HeartbeatBook
from sentinel.probes.results import LatestResults, RecentRuns
from sentinel.probes.runner import Armed, CheckRunner
from sentinel.probes.scheduler import Scheduler
from sentinel.rules.engine import Instance, RuleEngine
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.store import Store
from sentinel.web import views

CLUSTER_FRESH = 1.0  # seconds an answer of GET /api/v1/cluster is given again


class Parts(Protocol):
    """What the facade reads of the daemon (it provides them all)."""

    config: Config
    clock: Clock
    store: Store
    latest: LatestResults
    recent: RecentRuns
    rules: RuleEngine
    alerts: Alerts
    escalator: Escalator
    incidents: Desk
    slo_keeper: SloKeeper | None
    dispatcher: Dispatcher
    heartbeats: HeartbeatBook
    runner: CheckRunner
    scheduler: Scheduler
    node: Node
    armed: dict[str, Armed]
    sharing: Sharing | None
    unsupported: dict[str, str]
    notifiers: dict[str, tuple[Channel, Notifier]]
    started_at: datetime

    async def reload(self) -> list[str]: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...


class Reads:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        parts.node.share_results(parts.store, self._wanted)  # a cluster member only
        self._cluster: tuple[float, dict[str, Any]] | None = None  # (monotonic, answer)
        self._cluster_read: asyncio.Future[dict[str, Any]] | None = None
        self._shared_from: dict[str, Instance] | None = None
        self._shared: dict[str, Instance] = {}

    @property
    def config(self) -> Config:
        return self.parts.config

    @property
    def clock(self) -> Clock:
        return self.parts.clock

    @property
    def store(self) -> Store:
        return self.parts.store

    @property
    def incidents(self) -> Desk:
        return self.parts.incidents

    @property
    def slo_keeper(self) -> SloKeeper | None:
        return self.parts.slo_keeper

    @property
    def ack_key(self) -> bytes:
        return self.parts.alerts.ack_key

    def api_token(self) -> str | None:
        token = self.config.server.api_token
        return token.get_secret_value() if token is not None and token.get_secret_value() else None

    def list_silences(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [
            dict(s.to_json(), active=s.active(now))
            for s in self.parts.alerts.silences
            if s.ends_at > now
        ]

    def sources_status(self) -> list[dict[str, Any]]:
        """Each source, when it last spoke, and its open alerts."""
        book = self.parts.alerts.book
        counts = book.open_counts()
        return [
            {
                "name": s.name,
                "type": s.type,
                "last_spoke": iso(book.last_spoke.get(s.name)),
                "open_alerts": counts.get(s.name, 0),
            }
            for s in self.config.sources
        ]

    def find_alert(self, ref: str) -> str | None:
        """The fingerprint a reference names: the whole id or a unique prefix of 6+ chars."""
        ref = ref.strip().lower()
        if len(ref) < 6:
            return None
        known = {i.fingerprint for i in self.parts.rules.active()} | set(
            self.parts.escalator.progress
        )
        known |= set(self._shared_alerts())  # several replicas: alerts other members evaluate
        found = [fp for fp in known if fp.startswith(ref)]
        return found[0] if len(found) == 1 else None

    def alert(self, ref: str) -> dict[str, Any] | None:
        """One alert as the status lists it, looked up alone (not by building the status)."""
        fp = self.find_alert(ref)
        inst = None if fp is None else self._instance(fp)
        return None if inst is None else self._entry(inst, None, None)

    def _instance(self, fingerprint: str) -> Instance | None:
        """The alert as this member evaluates it, else (several replicas) as the store
        had it at the last heartbeat."""
        inst = next((i for i in self.parts.rules.active() if i.fingerprint == fingerprint), None)
        return inst if inst is not None else self._shared_alerts().get(fingerprint)

    def _shared_alerts(self) -> dict[str, Instance]:
        """Several replicas: every member's alerts as the store had them at the last
        heartbeat (``Node.shared``), by the id notifications and the API give them. An
        inbound alert read back from the store is a plain instance whose own hash is
        not its id (its source's and key's): it is revived as the book keeps it, else
        an ack by id or an ack link reaching a member that did not take it found
        nothing. Worked out again only when the heartbeat brought a new read."""
        raw = self.parts.node.shared
        if raw is not self._shared_from:
            book = self.parts.alerts.book
            self._shared = {a.fingerprint: a for a in map(book.revived, raw.values())}
            self._shared_from = raw
        return self._shared

    def _entry(
        self, inst: Instance, down: set[str] | None, firing: Firing | None
    ) -> dict[str, Any]:
        alerts = self.parts.alerts
        return views.alert_entry(
            inst,
            alerts.labels(inst),
            alerts.severity(inst),
            alerts.quiet(inst, down, firing),
            alerts.is_flapping(inst),
            self.parts.escalator.progress.get(inst.fingerprint),
        )

    async def uptime_bars(
        self, days: int = 90, checks: list[str] | None = None
    ) -> dict[str, list[float | None]]:
        return await views.uptime_bars(self.store, self.clock.now(), days, checks)

    def maintenance(self) -> list[dict[str, Any]]:
        return views.maintenance_view(self.config, self.clock.now())

    def oncall_now(self) -> list[dict[str, Any]]:
        return views.oncall_view(self.config, self.clock.now())

    def redacted_config(self) -> dict[str, Any]:
        return views.redacted_config(self.config)

    def readiness(self) -> dict[str, Any]:
        age = self.parts.scheduler.last_tick_age()
        running = self.parts.scheduler.running
        fresh = age is not None and age < 10.0
        out: dict[str, Any] = {
            "ready": running and fresh,
            "config_loaded": True,
            "scheduler_running": running,
            "last_tick_age_seconds": None if age is None else round(age, 3),
        }
        member = self.parts.node.readiness()  # empty for one process
        if member:
            out["ready"] = out["ready"] and member["ready"]
            out["cluster_lease_held"] = member["cluster_lease_held"]
            out["reason"] = member["reason"]
        return out

    async def cluster(self) -> dict[str, Any]:
        """Members, locations, leader, leases and claims (``GET /api/v1/cluster``).

        A cluster member reads the claims on its dedicated connection, under the lock
        its heartbeat takes, and the endpoint needs no token: requests at the same time
        share one read, and an answer younger than ``CLUSTER_FRESH`` is given again, so
        a flood of them neither queues reads ahead of the heartbeat nor loads the
        database (one read a second at most)."""
        node = self.parts.node
        if not isinstance(node, ClusterNode):
            return await node.status()  # one process: no query
        now = self.clock.monotonic()
        if self._cluster is not None and 0.0 <= now - self._cluster[0] < CLUSTER_FRESH:
            return self._cluster[1]
        if self._cluster_read is None:
            self._cluster_read = asyncio.ensure_future(self._read_cluster(node))
        return await asyncio.shield(self._cluster_read)

    async def _read_cluster(self, node: Node) -> dict[str, Any]:
        try:
            answer = await node.status()
            self._cluster = (self.clock.monotonic(), answer)
            return answer
        finally:
            self._cluster_read = None

    def members(self) -> list[dict[str, Any]]:
        """The members as the status page lists them (empty for one process)."""
        return self.parts.node.members()

    async def store_reachable(self) -> bool:
        return bool(await self.store.ping())

    # -- checks: this member's results, and (several replicas) the others' ----

    def _wanted(self) -> Wanted:
        """What the shared results are read for: every check but those this member
        feeds and has run."""
        p = self.parts
        sharing = p.sharing
        fed = frozenset() if sharing is None else frozenset(n for n in sharing.fed if n in p.latest)
        return Wanted(self.config.checks, fed, p.node.membership.live())

    def runs(self, check: str) -> list[tuple[float, bool]]:
        """The check's recent runs (duration, ok) for the page's sparkline: this
        member's, or those the shared results have seen when another member probes it."""
        shared = self.parts.node.results
        if shared is not None and check in shared.latest:
            _, own = newest(self.parts.latest.get(check), shared.latest, check)
            if not own:
                return shared.recent.get(check)
        return self.parts.recent.get(check)

    def _checks(self) -> list[dict[str, Any]]:
        p = self.parts
        shared = p.node.results
        if shared is None:  # one process: its own results
            return [
                views.check_entry(c, p.latest.get(c.name), c.name in p.unsupported)
                for c in self.config.checks
            ]
        return [self._shared_entry(c, shared) for c in self.config.checks]

    def _shared_entry(self, check: Check, shared: SharedResults) -> dict[str, Any]:
        p = self.parts
        name = check.name
        result, own = newest(p.latest.get(name), shared.latest, name)
        entry = views.check_entry(check, result, name in p.unsupported)
        by = p.node.membership.me if own else shared.prober(name)
        entry["probed_by"] = (
            None if result is None or by is None else {"member": by.id, "location": by.location}
        )
        return entry

    def status(self) -> dict[str, Any]:
        checks = self._checks()
        sharing = self.parts.sharing
        if sharing is not None and sharing.views:  # checks probed from several places
            for entry in checks:
                shown = sharing.views_of(entry["name"])
                if shown:
                    entry["locations"] = shown
        counts = {"up": 0, "down": 0, "pending": 0, "unsupported": 0}
        for entry in checks:
            counts[entry["state"]] += 1
        down, firing = self.parts.alerts.down(), self.parts.alerts.firing()
        alerts = [self._entry(i, down, firing) for i in self.parts.rules.active()]
        lanes = self.parts.dispatcher.lanes()
        channels = [
            {
                "name": name,
                "type": channel.type,
                "broken": self.parts.dispatcher.broken.get(name),
                "pending": len(lanes.get(name, [])),
            }
            for name, (channel, _) in self.parts.notifiers.items()
        ]
        return {
            "version": __version__,
            "started_at": self.parts.started_at.isoformat(),
            "summary": counts,
            "checks": checks,
            "alerts": alerts,
            "channels": channels,
            "sources": self.sources_status(),
        }
