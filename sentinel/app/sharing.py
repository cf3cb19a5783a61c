"""The cluster-sharing hook (docs/scaling.md, "Checks across members"): a cluster
member's scheduler gets its share of the checks, re-cut whenever the live members
change; runs of checks probed from several places become views, combined by their
primary. One process (no membership) never builds it.

A check handed on is released from the rules, and the escalation claims of its
alerts are let go at once (so is a location alert handed to another member): the
new owner takes the escalation on its next tick, not a lease later.

SLOs: every member counts the runs it feeds and reads the others' (rules/slo_keeper.py);
an SLO's pairs are evaluated by one member, the one fed its first check (config order),
whose rules see that check's alerts (an ``inhibit:`` source such as ServiceDown): one
SLO, one evaluation, one page. When that check moves, the SLO's alerts move with it
(forgotten without a transition, escalations let go; the new member takes their stored
state before it evaluates the SLO).
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from sentinel.app.cluster import Node
from sentinel.clock import Clock
from sentinel.cluster.heartbeat import ClusterMembership
from sentinel.cluster.sharing import Sharing
from sentinel.metrics import Metrics
from sentinel.probes.results import LatestResults
from sentinel.probes.runner import CheckRunner
from sentinel.probes.scheduler import Scheduler
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo_engine import SloEngine
from sentinel.store import Store, StoreError

log = structlog.get_logger("sentinel.daemon")


class MemberShare:
    """Wires a :class:`Sharing` into the member's scheduler, runner, rules and metrics."""

    def __init__(
        self,
        membership: ClusterMembership,
        node: Node,
        store: Store,
        clock: Clock,
        scheduler: Scheduler,
        runner: CheckRunner,
        rules: RuleEngine,
        metrics: Metrics,
        latest: LatestResults,
        slos: SloEngine | None = None,
    ) -> None:
        self.node = node
        self.slos = slos
        # the SLOs evaluated here: all of them until the first share says otherwise
        self._evaluated: set[str] = {s.name for s in slos.slos} if slos is not None else set()
        self.latest = latest
        self.store = store
        self.rules = rules
        self.metrics = metrics
        self.sharing = Sharing(
            membership.me.id,
            membership.me.location,
            store,
            clock,
            schedule=scheduler.schedule,
            deliver=runner.deliver,
            adopt=self._adopt_checks,
            release=self._release_checks,
            on_share=self._shared,
            stored_alerts=store.load_alerts,
            let_go=self._let_go,
        )
        runner.divert = self.sharing.divert
        rules.attach(self.sharing.alerts)
        # the share is re-cut whenever the live members change, and once now
        sharing = self.sharing
        membership.owned = lambda: len(sharing.ownership.assignment.probes)
        membership.subscribe(lambda: sharing.rebalance(membership.live()))
        sharing.rebalance(membership.live())
        self._slo_share()

    def _slo_share(self) -> None:
        """Evaluate the SLOs whose first check this member feeds: those it no longer
        feeds are handed over (alerts forgotten, escalations let go), those it newly
        feeds are taken with their stored alerts first."""
        slos = self.slos
        if slos is None:
            return
        mine = slos.anchored(self.sharing.fed)
        self._evaluated &= mine
        self.sharing.let_go([i.fingerprint for i in slos.scope(self._evaluated)])
        if mine - self._evaluated:
            self.sharing.spawn(self._take_slos(slos))

    async def _take_slos(self, slos: SloEngine) -> None:
        try:
            stored = await self.store.load_alerts()
        except StoreError as exc:
            log.warning("cluster_adopt_slos_failed", error=str(exc))
            return  # the next change of the share tries again
        taken = slos.anchored(self.sharing.fed) - self._evaluated
        slos.restore([i for i in stored if i.check in taken])
        self._evaluated |= taken
        slos.scope(self._evaluated)

    async def _adopt_checks(self, checks: frozenset[str]) -> None:
        """Checks now fed by this member: their saved alert states (a pending ``for``)."""
        try:
            await self.node.adopt_checks(self.rules, self.store, sorted(checks))
        except StoreError as exc:
            log.warning("cluster_adopt_checks_failed", checks=len(checks), error=str(exc))

    def _release_checks(self, checks: frozenset[str]) -> None:
        """Checks another member feeds now: the rules forget them, this member's
        /metrics stops showing their last result here (the new owner's is the truth),
        and the escalations of their alerts are let go."""
        self.latest.forget(checks)
        self.sharing.let_go([i.fingerprint for i in self.rules.release(checks)])

    async def _let_go(self, fingerprints: list[str]) -> None:
        if self.node.escalator is not None:
            await self.node.escalator.let_go(fingerprints)

    def _shared(self, counts: Mapping[str, int], moved: bool) -> None:
        self.rules.scope(self.sharing.fed)
        self._slo_share()
        self.node.owned_checks = dict(counts)
        self.metrics.cluster_owned_checks.clear()
        for member, n in counts.items():
            self.metrics.cluster_owned_checks.labels(member).set(n)
        if moved:
            self.metrics.cluster_rebalances.inc()
