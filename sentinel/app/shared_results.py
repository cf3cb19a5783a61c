"""What a cluster member shows of the checks other members probe (docs/scaling.md,
"The status page and the API"): their latest results, read from the shared store.

A member's own :class:`~sentinel.probes.results.LatestResults` holds only the runs
it made, so without this a replica behind a load balancer would show most checks as
pending. :class:`SharedResults` reads, every ``REFRESH_EVERY`` seconds and in one
statement for all of them, the newest stored result of every check this member does
not feed (and of a check it feeds but has not run yet: just taken over), keeps the
runs it has seen for the page's sparklines, and who feeds each check in the current
share. Requests only read what the last refresh kept.

One process (SQLite) never builds it: its status is its own results, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from sentinel.clock import Clock
from sentinel.cluster.membership import Member
from sentinel.cluster.ownership import owners
from sentinel.config import CheckBase
from sentinel.probes.results import RecentRuns, Result
from sentinel.store.protocols import LatestStore

log = structlog.get_logger("sentinel.cluster")

REFRESH_EVERY = 5.0  # seconds between two reads of the other members' latest results


@dataclass(frozen=True, slots=True)
class Wanted:
    """What one refresh reads: the configured checks, the ones this member feeds (and
    has a result of), and the live members."""

    checks: Sequence[CheckBase]
    fed: frozenset[str]
    members: Sequence[Member]


class SharedResults:
    def __init__(self, store: LatestStore, clock: Clock, wanted: Callable[[], Wanted]) -> None:
        self.store = store
        self.clock = clock
        self._wanted = wanted
        self.latest: dict[str, Result] = {}
        """Check -> the newest stored result, for the checks this member does not feed."""
        self.recent = RecentRuns()
        """The runs of those checks seen by the refreshes (the page's sparklines)."""
        self.fed_by: dict[str, Member] = {}
        """Check -> the member that feeds it in the current share (its primary owner)."""
        self._key: tuple[object, ...] | None = None
        self.failing = False

    def prober(self, name: str) -> Member | None:
        return self.fed_by.get(name)

    async def refresh(self) -> int:
        """One read of the latest results of every check not fed here; returns how many
        it found."""
        want = self._wanted()
        names = [c.name for c in want.checks if c.name not in want.fed]
        found = await self.store.latest_results(names) if names else []
        kept: dict[str, Result] = {}
        for r in found:
            before = self.latest.get(r.check)
            if before is None or r.started_at > before.started_at:
                self.recent.record(r)
            kept[r.check] = r
        self.latest = kept
        self.recent.retain(set(kept))
        self._owners(want.checks, want.members)
        return len(found)

    def _owners(self, checks: Sequence[CheckBase], members: Sequence[Member]) -> None:
        """Who feeds each check, recomputed only when the members or the checks change."""
        key = (tuple((m.id, m.location) for m in members), tuple(id(c) for c in checks))
        if key == self._key:
            return
        self._key = key
        by_id = {m.id: m for m in members}
        out: dict[str, Member] = {}
        for c in checks:
            chosen = owners(c.name, members, c.replicas, c.locations or None)
            if chosen and chosen[0] in by_id:
                out[c.name] = by_id[chosen[0]]
        self.fed_by = out

    async def run(self) -> None:
        """Refresh every ``REFRESH_EVERY`` seconds; a failed read keeps what was read
        before (logged once until a read succeeds again)."""
        while True:
            try:
                await self.refresh()
                if self.failing:
                    log.info("cluster_results_read_again")
                self.failing = False
            except Exception as exc:
                if not self.failing:
                    log.warning("cluster_results_read_failed", error=type(exc).__name__)
                self.failing = True
            await self.clock.sleep(REFRESH_EVERY)


def newest(
    mine: Result | None, shared: Mapping[str, Result], name: str
) -> tuple[Result | None, bool]:
    """The newer of this member's own latest result of ``name`` and the stored one;
    True when it is this member's own."""
    other = shared.get(name)
    if other is None or (mine is not None and mine.started_at >= other.started_at):
        return mine, mine is not None
    return other, False
