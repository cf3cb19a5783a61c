"""Several replicas: the escalator's gate (:mod:`sentinel.cluster.claims`) decides
which alerts this member escalates, and their progress is read again from the store
(the store is the truth; another member may have moved or acknowledged it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import structlog

from sentinel.escalation import policy as pol
from sentinel.escalation.ledger import Ledger
from sentinel.notify.base import AlertFacts

log = structlog.get_logger("sentinel.escalation")
# Several replicas: two members' views of one outage fire this far apart at most (a
# few check intervals); a firing further from the stored escalation's is a new outage.
SAME_OUTAGE = 60.0


def same_outage(kept: AlertFacts, live: AlertFacts) -> bool:
    """Whether ``live`` (this member's view of the alert) is the outage the stored
    escalation ``kept`` is about: both fired, within :data:`SAME_OUTAGE` of each other."""
    if kept.since is None or live.since is None:
        return False
    return abs(live.since - kept.since) <= SAME_OUTAGE


class Gate(Protocol):
    """Several replicas (sentinel.cluster.claims): which alerts this member may
    escalate. Without a gate (one process) it escalates every alert it sees."""

    def acting(self) -> bool:
        """This member may escalate at all (its lease holds, its schema is current)."""
        ...

    async def hold(self, fingerprints: list[str]) -> tuple[set[str], set[str]]:
        """Claim or renew these alerts' escalations: (held now, newly gained)."""
        ...

    async def release(self, fingerprints: list[str]) -> None: ...


class Gated(Ledger):
    """The escalator's side of the cluster's alert claims."""

    gate: Gate | None = None  # set by the cluster's wiring
    # Several replicas: of the alerts this member escalates, those the store says were
    # resolved by another member (an inbound alert whose resolve reached another
    # member), asked on each gated tick (set by the alert shell, app/alerts.py).
    vanished: Callable[[set[str]], Awaitable[set[str]]] | None = None

    async def _vanished(self, held: set[str]) -> set[str]:
        return set() if self.vanished is None else await self.vanished(held)

    async def let_go(self, fingerprints: list[str]) -> None:
        """Several replicas: alerts this member no longer evaluates (their check moved
        to another member): their escalation claims go now, so the new owner takes the
        escalation on its next tick instead of a lease later; the progress stays in the
        store for it. Waits for a tick under way (which may still page for them)."""
        if self.gate is None or not fingerprints:
            return
        async with self._turn:
            for fp in fingerprints:
                self.progress.pop(fp, None)
                self.facts.pop(fp, None)
                self.replies.drop(fp)
            try:
                await self.gate.release(list(fingerprints))
            except Exception as exc:  # the claims run out by themselves
                log.warning("escalation_release_failed", error=type(exc).__name__)
                return
            log.info("escalation_claims_released", alerts=len(fingerprints))

    def _take_handed(self, live: Iterable[str]) -> list[str]:
        """The resolutions seen here while another member held the alert's escalation
        (:attr:`handed`), to try again now; a firing one is ``live`` again and its
        escalation goes on as usual."""
        out = sorted(self.handed - set(live))
        self.handed.clear()
        return out

    async def _gated(self, fingerprints: list[str]) -> set[str] | None:
        """With a gate: the alerts of ``fingerprints`` this member escalates, their
        progress read again from the store (the store is the truth; another member may
        have moved or acknowledged it); the rest are forgotten here. None: no gate."""
        if self.gate is None:
            return None
        if not self.gate.acting():
            return set()
        held, gained = await self.gate.hold(fingerprints)
        if gained:
            await self.journal.restore()  # the incident another member opened
        for fp in fingerprints:
            if fp not in held:
                self.progress.pop(fp, None)
                self.facts.pop(fp, None)
        if held:
            stored = await self._stored()
            for fp in held:
                if fp in stored:
                    self.progress[fp], self.facts[fp] = stored[fp]
                else:
                    self.progress.pop(fp, None)
        return held

    async def _stored(self) -> dict[str, tuple[pol.Progress, AlertFacts]]:
        out = {}
        for data in await self._store.load_escalations():
            try:
                p = pol.Progress.from_json(data["progress"])
                out[p.fingerprint] = (p, AlertFacts(**data["facts"]))
            except (KeyError, TypeError, ValueError) as exc:
                log.error("escalation_restore_failed", error=type(exc).__name__)
        return out

    async def _release(self, fp: str) -> None:
        if self.gate is not None:
            try:
                await self.gate.release([fp])
            except Exception as exc:  # the claim runs out by itself
                log.warning("escalation_release_failed", error=type(exc).__name__)

    async def _reread(self, fp: str) -> None:
        """With a gate, an ack or an escalate-now may reach any member: act on the
        stored progress (the member escalating the alert reads it back each tick)."""
        if self.gate is None:
            return
        found = (await self._stored()).get(fp)
        if found is None:
            self.progress.pop(fp, None)
        else:
            self.progress[fp], self.facts[fp] = found
