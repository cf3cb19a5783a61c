"""The escalator's state and its one write: each open escalation's progress and the
facts of its alert, and the transaction that stores them with the outbox rows they
decided (then hands the rows to the dispatcher).

The escalator (:mod:`sentinel.escalation.escalator`) is built on this, with the
cluster gate (:mod:`~sentinel.escalation.gated`), the rows it writes
(:mod:`~sentinel.escalation.outbound`) and the answers it takes
(:mod:`~sentinel.escalation.answers`).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any, Protocol

from sentinel.clock import Clock
from sentinel.config.models import Config
from sentinel.escalation import policy as pol
from sentinel.escalation.journal import Journal
from sentinel.escalation.replies import ReplyCodes
from sentinel.metrics import Metrics
from sentinel.notify.base import AlertFacts
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.outbox import Delivery
from sentinel.store.protocols import IncidentStore, OutboxStore

Snapshot = tuple[dict[str, pol.Progress], dict[str, AlertFacts]]


class EscalationStore(OutboxStore, IncidentStore, Protocol):
    """The escalator's progress and outbox rows, and its journal's incidents."""


class Ledger:
    """The open escalations (``progress``, ``facts``), and writing them with their rows."""

    def __init__(
        self,
        config: Config,
        store: EscalationStore,
        dispatcher: Dispatcher,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock
        self._metrics = metrics
        self.progress: dict[str, pol.Progress] = {}
        self.facts: dict[str, AlertFacts] = {}
        # Several replicas: resolutions seen here while another member held the alert's
        # escalation (its check moved here mid-outage), tried again on each tick until
        # this member holds the claim (the holder no longer sees the alert and lets it
        # lapse) or the escalation is gone.
        self.handed: set[str] = set()
        self.ticking = False  # a tick is in flight (see Escalator.idle)
        # A tick and a release of claims (Gated.let_go) take turns: a claim let go is
        # never renewed by a tick that began before it.
        self._turn = asyncio.Lock()
        self.journal = Journal(store)
        self.replies = ReplyCodes()  # SMS reply codes of the open escalations, per number
        dispatcher.on_sent.append(self.journal.notified)

    async def _commit(
        self,
        changed: list[pol.Progress],
        finished: list[str],
        deliveries: list[Delivery],
        now: float,
        undo: Snapshot | None = None,
    ) -> None:
        """Write progress and outbox rows in one transaction, then hand the rows to the
        dispatcher. When the store fails, the in-memory progress goes back to ``undo``
        (what was last written), so the next tick decides the same pages again: a store
        outage delays a step, never loses it."""
        rows: list[tuple[str, dict[str, Any] | None]] = [
            (
                p.fingerprint,
                {"progress": p.to_json(), "facts": facts_json(self.facts[p.fingerprint])},
            )
            for p in changed
        ]
        rows += [(fp, None) for fp in finished]
        held = self._dispatcher.hold_storms(deliveries)
        try:
            added = await self._store.commit_notifications(rows, held, now)
        except BaseException:
            if undo is not None:
                self.progress, self.facts = dict(undo[0]), dict(undo[1])
            raise
        self._dispatcher.submit(added)

    def _snapshot(self) -> Snapshot:
        return dict(self.progress), dict(self.facts)

    def _now(self) -> float:
        return self._clock.now().timestamp()


def facts_json(facts: AlertFacts) -> dict[str, Any]:
    return asdict(facts)
