"""What taking a batch of inbound alerts decided (:class:`Taken`), and what the book
held before it (:class:`Checkpoint`), so a batch the store refused can be undone."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sentinel.rules.engine import Transition
from sentinel.sources.external import External


@dataclass
class Taken:
    """What a batch changed: transitions to announce, alerts whose text changed (to
    save again), keys to acknowledge, and how each alert was counted."""

    transitions: list[Transition] = field(default_factory=list)
    changed: list[External] = field(default_factory=list)
    acknowledge: list[str] = field(default_factory=list)  # fingerprints
    ended: list[str] = field(default_factory=list)  # fingerprints whose episode end moved
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> alerts

    def count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


@dataclass
class Checkpoint:
    """What a batch's alerts were in the book before it was taken (None: absent), so
    that a batch the store refused can be undone: persist, then answer."""

    source: str
    spoke: float | None
    alerts: dict[str, External | None]
    resolved: dict[str, float | None]
    changes: dict[str, deque[float] | None]
    flapping: dict[str, External | None]
