"""Claims with a lease: the gates the dispatcher and the escalator ask in a cluster.

- :class:`Claims` as the dispatcher's gate: a member sends only while it acts
  (:attr:`~sentinel.cluster.membership.Membership.acting`: its lease holds and its
  schema is current), and only the outbox rows whose claim it won. A claim lasts
  :func:`claim_lease` (longer than one send attempt), so nobody takes a row over
  while its sender may still be talking to the provider.
- :class:`Claims` as the escalator's gate: one member escalates each alert, the one
  holding ``cluster_claims[fingerprint]``, renewed on every escalation tick; when
  its holder's lease runs out or its session is gone (killed), the next member to
  tick takes it over and reads the progress back from the store.

The decisions themselves are SQL statements (see :mod:`sentinel.cluster.pg`): a
claim counts only when the statement touched the row, and only for a member whose
lease holds by the database's clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from sentinel.cluster.membership import Membership
from sentinel.cluster.pg import ClusterDb
from sentinel.notify.outbox import Delivery

SEND_MARGIN = 5.0  # seconds a claim outlasts the longest send attempt


def claim_lease(lease: float, send_timeout: float) -> float:
    """How long an outbox claim lasts: at least the membership lease, and longer than
    two attempts of the slowest send (a row is never taken over mid-send)."""
    return max(lease, 2 * send_timeout + SEND_MARGIN)


class Claims:
    def __init__(self, membership: Membership, db: ClusterDb, send_timeout: float) -> None:
        self.membership = membership
        self.db = db
        self.send_timeout = send_timeout
        self.held: set[str] = set()  # alerts we escalate, as of the last hold
        membership.subscribe(self._changed)

    def _changed(self) -> None:
        if not self.membership.healthy:
            self.held.clear()  # whatever we held may be someone else's when we are back

    @property
    def lease(self) -> float:
        return claim_lease(self.membership.lease, self.send_timeout)

    # -- the dispatcher's gate ---------------------------------------------

    def may_send(self) -> bool:
        return self.membership.acting

    async def claim(self, rows: Sequence[Delivery]) -> set[int]:
        ids = [d.id for d in rows if d.id is not None]
        if not ids:
            return set()
        return await self.db.claim_outbox(self.membership.me.id, ids, self.lease)

    # -- the escalator's gate ----------------------------------------------

    def acting(self) -> bool:
        return self.membership.acting

    async def hold(self, fingerprints: list[str]) -> tuple[set[str], set[str]]:
        if not self.membership.acting:
            return set(), set()
        got = await self.db.hold(self.membership.me.id, fingerprints, self.membership.lease)
        gained = got - self.held
        self.held = (self.held - set(fingerprints)) | got
        return got, gained

    async def release(self, fingerprints: list[str]) -> None:
        self.held -= set(fingerprints)
        await self.db.release(self.membership.me.id, fingerprints)
