"""The status page's SLO figures: the budget window's buckets, the burn-down line
and its text alternative, and the SLOs drawn (pure functions of the SLO engine's
counters; :mod:`sentinel.web.slo_page` renders them)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import accumulate
from operator import sub
from typing import Any

from sentinel.rules.slo import (
    MINUTE_SPAN,
    Counters,
    SloStatus,
    budget_window,
    exhaustion,
    window_name,
)
from sentinel.rules.slo_engine import SloEngine

SLOS_SHOWN = 100  # SLOs drawn on the status page; beyond that, the ones with least budget
BURN_DOWN_POINTS = 120  # points of a burn-down line (30 days: one every 6 hours)


def window_counts(
    counters: Counters, now: float, window: float
) -> tuple[float, int, list[int], list[int]]:
    """The buckets an SLO's budget is computed from at ``now`` (as
    :func:`sentinel.rules.slo.status` sums them): the start of the first, the bucket
    seconds, and the good and total counts, oldest first, the current partial bucket
    last (a page draws up to a hundred of them)."""
    ring = counters.minutes if window <= MINUTE_SPAN else counters.hours
    last = ring.index(now)
    count = min(ring.size, max(1, math.ceil(window / ring.step)))
    first = last - count + 1
    good, total = ring.buckets(first, last)
    return float(first * ring.step + ring.offset), ring.step, good, total


def _bad(good: Sequence[int], total: Sequence[int]) -> list[int]:
    return list(map(sub, total, good))


def _first_run(total: Sequence[int]) -> int:
    """The index of the first bucket with runs (len when none has)."""
    return next((i for i, runs in enumerate(total) if runs), len(total))


def burn_down(good: Sequence[int], total: Sequence[int], ratio: float) -> list[float | None]:
    """The error budget of the current window as it was spent, bucket by bucket: after
    each bucket, 1 - (bad runs so far) / (bad runs the window's budget allows), so the
    line starts at 1 (100%) and ends at the budget left now. None before the first run."""
    runs = sum(total)
    if runs == 0:
        return [None] * len(total)
    allowed = (1.0 - ratio) * runs
    first = _first_run(total)
    spent = list(accumulate(_bad(good[first:], total[first:])))
    return [None] * first + [1.0 - b / allowed for b in spent]


def thinned(points: Sequence[float | None], most: int) -> list[float | None]:
    """At most ``most`` of ``points``, evenly spaced, always keeping the last."""
    if len(points) <= most:
        return list(points)
    return list(map(points.__getitem__, _spread(len(points), most)))


@functools.lru_cache(maxsize=16)
def _spread(length: int, most: int) -> tuple[int, ...]:
    step = (length - 1) / (most - 1)
    return tuple(round(i * step) for i in range(most))


def _at(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M} UTC"


def share(value: float) -> str:
    """A budget share for people: ``73.2%``, ``-250.0%``."""
    return f"{value * 100:.1f}%"


def burn_down_text(
    good: Sequence[int], total: Sequence[int], ratio: float, start: float, step: int, window: str
) -> str:
    """The burn-down line in words (its text alternative): where it starts and ends and
    the hour (or minute) that spent the most."""
    runs = sum(total)
    if runs == 0:
        return f"error budget over the last {window}: no runs yet"
    allowed = (1.0 - ratio) * runs
    bad = _bad(good, total)
    left = 1.0 - sum(bad) / allowed
    first = _first_run(total)
    text = (
        f"error budget over the last {window}: from 100% at {_at(start + first * step)}"
        f" to {share(left)} now"
    )
    worst = max(bad)
    if worst > 0:
        unit = "hour" if step >= 3600 else "minute"
        at = start + bad.index(worst) * step
        text += f"; the {unit} from {_at(at)} spent the most ({share(worst / allowed)})"
    return text


def slo_panel(
    engine: SloEngine, statuses: Sequence[SloStatus], now: datetime, most: int = SLOS_SHOWN
) -> tuple[list[dict[str, Any]], int]:
    """The SLOs the status page draws (config order; beyond ``most``, those with the
    least budget left per ``statuses``), and how many were left out. Attainment, budget
    and burn-down come from the counters at ``now`` (the same buckets, so the line ends
    at the figure); the 1h burn rate and the pairs that hold from ``statuses`` (the SLO
    keeper's, at most a minute old)."""
    known = {s.name: s for s in statuses}
    slos = engine.slos
    if len(slos) > most:

        def order(name: str) -> tuple[bool, float, str]:
            st = known.get(name)
            left = None if st is None else st.budget_remaining
            return (left is None, 0.0 if left is None else left, name)

        slos = sorted(slos, key=lambda s: order(s.name))[:most]
    at = now.timestamp()
    rows = []
    for slo in slos:
        counters = engine.counters(slo.name)
        if counters is None:
            continue
        # A calendar month's budget counts from the 1st; a rolling window's, its length.
        since, length = budget_window(slo, at)
        start, step, good, total = window_counts(counters, at, at - since)
        runs, ok = sum(total), sum(good)
        attainment = ok / runs if runs else None
        left = None if attainment is None else 1.0 - (1.0 - attainment) / (1.0 - slo.ratio)
        st = known.get(slo.name)
        burn = None if st is None else st.burn.get("1h")
        window = window_name(slo.window)
        rows.append(
            {
                "name": slo.name,
                "description": slo.description,
                "indicator": slo.indicator,
                "threshold": slo.threshold,
                "objective": slo.ratio,
                "window": window,
                "good": ok,
                "total": runs,
                "attainment": attainment,
                "budget_remaining": left,
                "burn_1h": burn,
                "exhaustion": exhaustion(left, burn, length),
                "firing": [] if st is None else list(st.firing),
                "burn_down": thinned(burn_down(good, total, slo.ratio), BURN_DOWN_POINTS),
                "burn_down_text": burn_down_text(good, total, slo.ratio, start, step, window),
            }
        )
    return rows, len(engine.slos) - len(rows)
