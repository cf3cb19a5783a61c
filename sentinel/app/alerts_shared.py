"""Several replicas: the inbound alerts of the alert shell, shared through the store.

With a gated escalator (a cluster member), :meth:`SharedInbound.prepare` reads the
store's word on a request's alerts before :meth:`~sentinel.app.alerts.Alerts.take`
decides, the batch is saved with the ends of resolved episodes and the source's last
word (:meth:`SharedInbound.save`), and each escalation tick asks the store whether an
inbound alert this member escalates was resolved through another member
(:meth:`SharedInbound.vanished`; docs/sources.md, "Several replicas"). The shell
holds one and hands it its book, its unsaved counts and its facts cache.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from sentinel.clock import Clock
from sentinel.config import Config
from sentinel.escalation.escalator import Escalator
from sentinel.notify.base import AlertFacts
from sentinel.rules.engine import Instance
from sentinel.sources.book import SourceBook
from sentinel.sources.external import external_fingerprint
from sentinel.sources.inbound import Inbound
from sentinel.sources.taken import Taken
from sentinel.store import Store

log = structlog.get_logger("sentinel.daemon")

# With no inbound alert to escalate, the sources' last words (what the status page
# shows) are read from the store this often at most.
SHARED_EVERY = 5.0
# ... and the ends of resolved episodes (kept to hold late copies out) are forgotten
# after ENDS_KEPT, looked for every PRUNE_ENDS_EVERY.
ENDS_KEPT = 7 * 86400.0
PRUNE_ENDS_EVERY = 3600.0


@dataclass(eq=False)
class SharedInbound:
    """The store's word on inbound alerts, for the shell of a cluster member.
    ``unsaved`` and ``facts`` are the shell's own (read and pruned in place);
    ``wake`` wakes the escalation loop."""

    store: Store
    book: SourceBook
    escalator: Escalator
    clock: Clock
    unsaved: Counter[str]
    facts: dict[str, tuple[tuple[Any, ...], AlertFacts]]
    wake: Callable[[], None]
    sources: list[str] = field(default_factory=list)  # the configured sources' names
    # monotonic times of the last read of shared state, and of the last prune of ends
    _shared_at: float = field(default=float("-inf"), init=False)
    _pruned_at: float = field(default=float("-inf"), init=False)

    def configure(self, config: Config) -> None:
        self.sources = [s.name for s in config.sources]

    @property
    def shared(self) -> bool:
        """Several replicas: this member's escalations are gated (a cluster member), so
        inbound alerts are read from and written to the store the members share."""
        return self.escalator.gate is not None

    async def prepare(self, source: str, batch: Sequence[Inbound]) -> None:
        """Several replicas: the store's word on the batch's alerts, read before
        :meth:`~sentinel.app.alerts.Alerts.take` (call it right after, with no await
        between): an alert fired or resolved through another member is known here, so
        this member decides as the one that took the rest would have. An alert found
        resolved elsewhere leaves the book, and the next escalation tick closes its
        escalation (the escalator's ``handed``: from here if this member holds it).
        Nothing with one process."""
        if not self.shared or self.book.source(source) is None:
            return
        fps = list(dict.fromkeys(external_fingerprint(source, i.key) for i in batch))
        gone = await self._sync(fps, [source])
        for fp in gone:
            self.facts.pop(fp, None)
        if gone:
            self.escalator.handed.update(gone)
            self.wake()  # wakes the escalation loop

    async def _sync(self, fingerprints: list[str], sources: list[str]) -> list[str]:
        """Read the shared state of these alerts and sources into the book; returns the
        alerts another member resolved (see :meth:`SourceBook.sync`)."""
        mark = self.book.seq
        stored, ends, spoke = await self.store.load_external(fingerprints, sources)
        return self.book.sync(fingerprints, stored, ends, spoke, mark, self.unsaved)

    async def vanished(self, held: set[str]) -> set[str]:
        """Asked on each gated escalation tick with the alerts this member escalates:
        the inbound ones the store no longer has (resolved through another member)
        leave the book, and are returned for the escalator to resolve from here. The
        sources' last words are read too (every SHARED_EVERY at most when none is held)."""
        fps = sorted(fp for fp in held if self.book.get(fp) is not None)
        now = self.clock.monotonic()
        if self.sources and now - self._pruned_at >= PRUNE_ENDS_EVERY:
            self._pruned_at = now
            try:
                await self.store.prune_external(self.clock.now().timestamp() - ENDS_KEPT)
            except Exception as exc:  # again in an hour
                log.warning("source_ends_prune_failed", error=type(exc).__name__)
        if not fps and (not self.sources or now - self._shared_at < SHARED_EVERY):
            return set()
        self._shared_at = now
        try:
            gone = await self._sync(fps, list(self.sources))
        except Exception as exc:  # the next tick asks again
            log.warning("source_shared_read_failed", error=type(exc).__name__)
            return set()
        for fp in gone:
            self.facts.pop(fp, None)
        return set(gone)

    async def save(
        self, source: str, taken: Taken, kept: Sequence[Instance], gone: Sequence[str]
    ) -> None:
        """Save a batch with the ends of its resolved episodes and the source's last word."""
        ends = {fp: e for fp in taken.ended if (e := self.book.ended(fp)) is not None}
        spoke = self.book.last_spoke.get(source)
        said = {} if spoke is None else {source: spoke}
        await self.store.save_external(kept, gone, ends, said)
