"""Several replicas: the claim that makes this member the one sender of a row
(:mod:`sentinel.cluster.claims`), and the pause while it may not send at all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog

from sentinel.notify.lanes import Lane, Lanes
from sentinel.notify.outbox import Delivery

log = structlog.get_logger("sentinel.notify")


class Gate(Protocol):
    """Several replicas (sentinel.cluster.claims): whether this member may send now,
    and the claim that makes it the one sender of a row. Without a gate (one process)
    every row is this process's own."""

    def may_send(self) -> bool: ...

    async def claim(self, rows: Sequence[Delivery]) -> set[int]:
        """The ids of ``rows`` now claimed by this member (the others are someone
        else's, or done)."""
        ...


class Claiming(Lanes):
    """The dispatcher's side of the cluster's outbox claims."""

    gate: Gate | None = None  # set by the cluster's wiring
    _paused = False  # logged once when sending stops, once when it resumes

    async def _claimed(self, lane: Lane, group: list[Delivery]) -> list[Delivery] | None:
        """The rows of ``group`` this member now holds the claim of (the rest leave its
        queue: another member sends them); None while it may not send at all."""
        assert self.gate is not None
        if not self.gate.may_send():
            if not self._paused:
                self._paused = True
                log.error("notify_paused", reason="cluster lease not held", open=self.open_count())
            return None
        if self._paused:
            self._paused = False
            log.info("notify_resumed", open=self.open_count())
        ids = await self.gate.claim(group)
        others = [d for d in group if d.id not in ids]
        if others:
            self._remove(lane, others)
        return [d for d in group if d.id in ids]
