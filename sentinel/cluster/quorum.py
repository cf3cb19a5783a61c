"""Confirmation from several places: each location's view of a check, combined.

A check with ``locations`` (or ``replicas: 2`` or more) is probed from each
place in the same time bucket (``bucket = floor(epoch / interval)``). Each
place's result is a :class:`View`; the check's primary owner combines a
bucket's views with :func:`decide`:

- a place with no fresh view for the bucket, or whose location is unhealthy,
  is *unknown*: never counted as up or as down;
- the check is down when at least ``quorum`` places see it down, up when the
  places that see it up leave too few to reach the quorum, else unknown;
- ``missing: lower`` (the default) lowers the quorum to the places that do
  report when some are unknown (a silent location does not blind the rest),
  ``missing: hold`` keeps it (the check stays unknown until enough report).

:func:`unhealthy_locations` finds places whose own probes mostly fail while
the others see the same checks up: their views are dropped and they raise one
alert ("probe location eu-west unhealthy") instead of a page per check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["up", "down", "unknown"]
Missing = Literal["lower", "hold"]

# A location is judged on at least this many checks that others also see: one
# check down from one place is that check's business, not the location's.
MIN_COMPARED = 3
UNHEALTHY_SHARE = 0.5  # more than half of the compared checks down only there


def bucket(epoch: float, interval: float, phase: float = 0.0) -> int:
    """The time bucket a run that started at ``epoch`` belongs to: the nearest due time
    ``phase + k * interval`` (every member gives a check the same phase, so all places
    run it at the same instants, each a little late): runs of the same bucket are
    comparable. With ``phase`` 0 and a run on time, ``floor(epoch / interval)``."""
    return math.floor((epoch - phase) / interval + 0.5)


@dataclass(frozen=True, slots=True)
class View:
    """One place's result for one check in one bucket."""

    check: str
    place: str  # the location, or the member id when the check uses replicas
    bucket: int
    ok: bool
    error: str | None
    at: float  # when the run started (epoch seconds)
    duration: float = 0.0
    member: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    up: tuple[str, ...]
    down: tuple[str, ...]
    unknown: tuple[str, ...]
    needed: int  # the quorum applied (after lowering)

    @property
    def reason(self) -> str:
        """One line for the combined result's error and the page."""
        parts = []
        if self.down:
            parts.append("down from " + ", ".join(self.down))
        if self.up:
            parts.append("up from " + ", ".join(self.up))
        if self.unknown:
            parts.append("unknown from " + ", ".join(self.unknown))
        return f"{'; '.join(parts)} (quorum {self.needed})"


def default_quorum(places: int) -> int:
    """A majority: 2 of 2, 2 of 3, 3 of 4, 3 of 5. With two or more places one bad
    network path is never enough to page."""
    return places // 2 + 1


def decide(
    places: Sequence[str],
    views: Mapping[str, View],
    quorum: int,
    missing: Missing = "lower",
    unhealthy: Iterable[str] = (),
) -> Decision:
    """Combine one bucket's views (place -> view; absent = missing) for ``places``."""
    bad = set(unhealthy)
    up = tuple(p for p in places if p not in bad and p in views and views[p].ok)
    down = tuple(p for p in places if p not in bad and p in views and not views[p].ok)
    unknown = tuple(p for p in places if p not in up and p not in down)
    needed = quorum
    if missing == "lower" and unknown:
        needed = max(1, min(quorum, len(up) + len(down)))
    if not up and not down:
        return Decision("unknown", up, down, unknown, needed)
    if len(down) >= needed:
        verdict: Verdict = "down"
    elif len(down) + (len(unknown) if missing == "hold" else 0) < needed:
        verdict = "up"  # the quorum cannot be reached any more
    else:
        verdict = "unknown"
    return Decision(verdict, up, down, unknown, needed)


def fresh(views: Iterable[View], current: int) -> dict[str, View]:
    """Place -> its view of bucket ``current`` (or a newer one, when the place has
    already run again); a view of an older bucket is stale and left out (unknown)."""
    out: dict[str, View] = {}
    for v in views:
        if v.bucket < current:
            continue
        kept = out.get(v.place)
        if kept is None or v.bucket > kept.bucket or (v.bucket == kept.bucket and v.at > kept.at):
            out[v.place] = v
    return out


def unhealthy_locations(
    views: Iterable[View],
    min_compared: int = MIN_COMPARED,
    share: float = UNHEALTHY_SHARE,
) -> set[str]:
    """Places whose probes mostly fail where the others see the same checks up.

    ``views``: the fresh views of every check with several places (one per check and
    place). A place is compared on each check that some other place also reported;
    it is unhealthy when, on at least ``min_compared`` such checks, more than
    ``share`` of them are down from it and up from every other place."""
    by_check: dict[str, list[View]] = {}
    for v in views:
        by_check.setdefault(v.check, []).append(v)
    compared: dict[str, int] = {}
    alone: dict[str, int] = {}
    for check_views in by_check.values():
        if len(check_views) < 2:
            continue
        for v in check_views:
            others = [o for o in check_views if o.place != v.place]
            if not others:
                continue
            compared[v.place] = compared.get(v.place, 0) + 1
            if not v.ok and all(o.ok for o in others):
                alone[v.place] = alone.get(v.place, 0) + 1
    return {
        place
        for place, n in compared.items()
        if n >= min_compared and alone.get(place, 0) > share * n
    }
