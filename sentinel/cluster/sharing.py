"""Checks across members: the shell around ownership and quorum.

One per member in a cluster (never built on SQLite). It

- keeps the member's share (cluster/ownership.py) for the live member set, and
  hands the scheduler only the checks this member owns; a check taken over has
  its saved rule state adopted, a check handed on is released;
- takes the runs of checks probed from several places (``locations``, or
  ``replicas`` of 2 or more) as this place's view, written at once to the
  shared ``location_views`` table instead of going to the rules;
- on the check's primary owner, combines each bucket's views with the pure
  ``cluster/quorum.py`` decision, a moment after the bucket's runs are due, and
  delivers the combined Result to the normal path (latest, history, rules);
- judges locations every few seconds: one whose probes mostly fail where the
  others succeed is left out of decisions and raises one alert
  (cluster/health.py), from the member that owns the location's name; when that
  owner changes, the alert is handed over with its stored state (never resolved
  by the old owner, never fired again by the new one), and the old owner lets go
  of its escalation at once (``let_go``).

Every decision takes ``now``; the clock is read in the loop only.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from sentinel.clock import Clock
from sentinel.cluster.health import LocationAlerts
from sentinel.cluster.ownership import Alone, Ownership, Placed, Spec, owners, shares
from sentinel.cluster.quorum import (
    Decision,
    View,
    bucket,
    decide,
    default_quorum,
    fresh,
    unhealthy_locations,
)
from sentinel.config import CheckBase
from sentinel.probes.results import Result, Sample
from sentinel.probes.runner import Armed
from sentinel.probes.scheduler import EPOCH, SLOT, spread_offset
from sentinel.rules.engine import Instance
from sentinel.store.protocols import ViewStore

log = structlog.get_logger("sentinel.cluster")

COMBINE_EVERY = 1.0
JUDGE_EVERY = 5.0
MARGIN = 1.0  # after a run's timeout, before its bucket is combined (the views' writes)


def combine_delay(check: CheckBase) -> float:
    """How long after a bucket's due time its views are combined: every place has run
    (timeout) and written (MARGIN), but its next run has not started."""
    return min(check.timeout + MARGIN, 0.8 * check.interval)


def anchor(check: CheckBase) -> float:
    """The epoch of the check's first due time (the scheduler's phase for its name)."""
    return EPOCH.timestamp() + spread_offset(check.name, check.interval, SLOT)


def completed(check: CheckBase, now: float) -> int:
    """The latest bucket whose runs are over at ``now`` (due time + delay passed): a
    place without a view of it (or newer) is unknown."""
    return math.floor((now - combine_delay(check) - anchor(check)) / check.interval)


def places_of(check: CheckBase, members: Sequence[Placed]) -> list[str]:
    """The places a check is decided over: its locations, or its owners' ids."""
    if check.locations:
        return list(check.locations)
    return owners(check.name, members, check.replicas)


def combined(
    check: CheckBase, kind: str, due: float, d: Decision, views: Mapping[str, View]
) -> Result:
    """The Result the rules see for one bucket: up or down, with the places' counts."""
    durations = [views[p].duration for p in (*d.up, *d.down) if p in views]
    duration = statistics.median(durations) if durations else 0.0
    ok = d.verdict == "up"
    return Result(
        check=check.name,
        type=kind,
        ok=ok,
        started_at=datetime.fromtimestamp(due, UTC),
        duration=duration,
        error=None if ok else d.reason,
        samples=(
            Sample("up", 1.0 if ok else 0.0),
            Sample("duration_seconds", duration),
            Sample("places_up", float(len(d.up))),
            Sample("places_down", float(len(d.down))),
            Sample("places_unknown", float(len(d.unknown))),
        ),
    )


class Sharing:
    def __init__(
        self,
        me: str,
        location: str,
        store: ViewStore,
        clock: Clock,
        *,
        schedule: Callable[[Iterable[tuple[str, float]]], None],
        deliver: Callable[[Result], None],
        adopt: Callable[[frozenset[str]], Awaitable[None]],
        release: Callable[[frozenset[str]], object],
        on_share: Callable[[Mapping[str, int], bool], None] = lambda _, __: None,
        stored_alerts: Callable[[], Awaitable[Sequence[Instance]]] | None = None,
        let_go: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> None:
        self.me = me
        self.location = location
        self.store = store
        self.clock = clock
        self.ownership = Ownership(me)
        self.alerts = LocationAlerts()
        self.unhealthy: frozenset[str] = frozenset()
        self.decisions: dict[str, tuple[int, Decision]] = {}  # check -> (bucket, decision)
        self.views: dict[str, list[dict[str, Any]]] = {}  # check -> each place's view, shown
        self._schedule = schedule
        self._deliver = deliver
        self._adopt = adopt
        self._release = release
        self._on_share = on_share
        self._stored_alerts = stored_alerts  # the store's alerts (a location alert's state)
        self._let_go = let_go  # the escalation claims of alerts this member dropped
        self._checks: dict[str, CheckBase] = {}
        self._types: dict[str, str] = {}
        self._multi: frozenset[str] = frozenset()  # checks probed from several places
        self._members: tuple[Placed, ...] = ()
        self._combined: dict[str, int] = {}  # check -> last bucket combined
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the share -----------------------------------------------------------

    def configure(self, armed: Mapping[str, Armed]) -> None:
        """The checks that can run here (armed); the share is recomputed."""
        self._checks = {n: a.check for n, a in armed.items()}
        self.ownership.forget()  # recompute (and reschedule: an interval may have changed)
        self._types = {n: a.type for n, a in armed.items()}
        self._multi = frozenset(n for n, c in self._checks.items() if c.places >= 2)
        # Before the first heartbeat lists the members, this one probes everything:
        # a duplicate probe for a moment beats a check nobody probes.
        self.rebalance(self._members or (Alone(self.me, self.location),))

    def rebalance(self, members: Sequence[Placed]) -> None:
        """The live members changed (or the checks did): recompute the share, schedule
        it, adopt the rule state of checks whose results this member now feeds to the
        rules, release those it no longer feeds."""
        if not any(m.id == self.me for m in members):
            # Our own lease is not held (a failed heartbeat: the database is slow or
            # gone): keep probing our share. Others may take it over meanwhile (a
            # duplicate probe); this member sends nothing until it is back.
            if self._members:
                log.warning("cluster_share_kept", reason="not among the live members")
            return
        self._members = tuple(members)
        specs = [Spec(c.name, c.replicas, tuple(c.locations)) for c in self._checks.values()]
        before, share = self.fed, self.ownership.assignment
        changes = self.ownership.rebalances
        self.ownership.update(specs, self._members)
        if self.ownership.assignment is share:
            return  # the same members and checks: nothing to do
        probes = self.ownership.assignment.probes
        self._schedule((n, self._checks[n].interval) for n in sorted(probes))
        after = self.fed
        lost, gained = before - after, after - before
        moved = self.ownership.rebalances != changes
        if lost:
            self._release(lost)
        if gained and moved:
            self.spawn(self._adopt(gained))
        log.info(
            "cluster_share",
            members=len(self._members),
            probes=len(probes),
            gained=len(gained),
            lost=len(lost),
            rebalance=moved,
        )
        self._on_share(shares(specs, self._members), moved)

    def let_go(self, fingerprints: list[str]) -> None:
        """Alerts this member no longer evaluates or raises: their escalation claims
        go now (in a task), so their new owner escalates on time."""
        if fingerprints and self._let_go is not None:
            self.spawn(self._let_go(fingerprints))

    @property
    def fed(self) -> frozenset[str]:
        """The checks whose results this member hands to the rules: those it probes
        alone, and those probed from several places that it is the primary of."""
        a = self.ownership.assignment
        return frozenset(
            n
            for n in a.probes
            if (c := self._checks.get(n)) is not None and (c.places < 2 or n in a.primary)
        )

    def owns(self, name: str) -> bool:
        return self.ownership.owns(name)

    # -- views ---------------------------------------------------------------

    def _place(self, check: CheckBase) -> str:
        return self.location if check.locations else self.me

    def divert(self, result: Result) -> bool:
        """A run of a check with several places becomes this place's view (written
        now); True when it was taken, so the runner does not deliver it itself."""
        check = self._checks.get(result.check)
        if check is None or check.places < 2:
            return False
        at = result.started_at.timestamp()
        view = View(
            check=check.name,
            place=self._place(check),
            bucket=bucket(at, check.interval, anchor(check)),
            ok=result.ok,
            error=result.error,
            at=at,
            duration=result.duration,
            member=self.me,
        )
        self.spawn(self._save(view))
        return True

    async def _save(self, view: View) -> None:
        try:
            await self.store.save_view(view)
        except Exception as exc:
            log.warning("location_view_save_failed", check=view.check, error=type(exc).__name__)

    def due(self, now: float) -> dict[str, int]:
        """Checks this member is primary for whose next bucket is ready to combine."""
        out: dict[str, int] = {}
        for name in self.ownership.assignment.primary & self._multi:
            check = self._checks[name]
            k = completed(check, now)
            if k > self._combined.get(name, k - 1):
                out[name] = k
        return out

    async def combine(self, now: float) -> list[Result]:
        """Combine every bucket that is ready; deliver and return the decided results."""
        ready = self.due(now)
        if not ready:
            return []
        rows = await self.store.load_views(sorted(ready))
        by_check: dict[str, list[View]] = {}
        for v in rows:
            by_check.setdefault(v.check, []).append(v)
        out = []
        for name, k in ready.items():
            if not self.ownership.is_primary(name) or name not in self._checks:
                # handed on while its views were read: the rules released it, and a
                # result now would start an alert here beside the new primary's
                continue
            check = self._checks[name]
            self._combined[name] = k
            views = fresh(by_check.get(name, ()), k)
            places = places_of(check, self._members)
            quorum = check.quorum or default_quorum(len(places) or check.places)
            d = decide(places, views, quorum, check.quorum_missing, self.unhealthy)
            self.decisions[name] = (k, d)
            if d.verdict == "unknown":
                continue
            result = combined(
                check, self._types[name], anchor(check) + k * check.interval, d, views
            )
            self._deliver(result)
            out.append(result)
        return out

    async def judge(self, now: float) -> frozenset[str]:
        """Read every place's view of every check with several places: the views the
        API and the page show, and the unhealthy locations (left out of decisions)."""
        names = [n for n, c in self._checks.items() if c.places >= 2]
        rows = await self.store.load_views(names) if names else []
        by_check: dict[str, list[View]] = {}
        for v in rows:
            if v.check in self._checks:
                by_check.setdefault(v.check, []).append(v)
        current = {n: completed(c, now) for n, c in self._checks.items() if c.places >= 2}
        compared = [
            v
            for n, vs in by_check.items()
            if len(self._checks[n].locations) >= 2
            for v in vs
            if v.bucket >= current[n]
        ]
        self.unhealthy = frozenset(unhealthy_locations(compared))
        self.views = {n: self._shown(n, by_check.get(n, []), current[n]) for n in names}
        locations = {loc for n in names for loc in self._checks[n].locations}
        mine = {
            loc for loc in locations if owners(f"location:{loc}", self._members)[:1] == [self.me]
        }
        gained = mine - self.alerts.mine
        stored: Sequence[Instance] = ()
        if gained and self._stored_alerts is not None:
            try:
                stored = await self._stored_alerts()
            except Exception as exc:  # taken over at the next judge, from the store
                log.warning("location_alert_adopt_failed", error=type(exc).__name__)
                mine -= gained
        released = self.alerts.judge(self.unhealthy, mine, locations, stored)
        self.let_go([i.fingerprint for i in released])
        if self.unhealthy:
            log.warning("probe_locations_unhealthy", locations=sorted(self.unhealthy))
        return self.unhealthy

    def _shown(self, name: str, rows: Sequence[View], current: int) -> list[dict[str, Any]]:
        """Each place's view of a check as the API and the page show it: its latest run,
        and whether it counts (up, down) or not (unknown: stale, missing, unhealthy)."""
        check = self._checks[name]
        latest = {v.place: v for v in rows}
        out: list[dict[str, Any]] = []
        for place in places_of(check, self._members) or sorted(latest):
            v = latest.get(place)
            if v is None or v.bucket < current or place in self.unhealthy:
                state = "unknown"
            else:
                state = "up" if v.ok else "down"
            out.append(
                {
                    "place": place,
                    "state": state,
                    "unhealthy": place in self.unhealthy,
                    "member": None if v is None else v.member,
                    "last_run": None
                    if v is None
                    else datetime.fromtimestamp(v.at, UTC).isoformat(),
                    "error": None if v is None else v.error,
                }
            )
        return out

    def views_of(self, name: str) -> list[dict[str, Any]]:
        """Each place's view of ``name`` as last read (empty: probed from one place)."""
        return self.views.get(name, [])

    # -- the loop ------------------------------------------------------------

    async def run(self) -> None:
        """Combine each second, judge locations every JUDGE_EVERY seconds."""
        last_judged = float("-inf")
        while True:
            now = self.clock.now().timestamp()
            try:
                if now - last_judged >= JUDGE_EVERY:
                    last_judged = now
                    await self.judge(now)
                await self.combine(now)
            except Exception as exc:
                log.warning("quorum_combine_failed", error=type(exc).__name__)
            await self.clock.sleep(COMBINE_EVERY)

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run ``coro`` in a task this shell cancels at close."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
