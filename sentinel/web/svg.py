"""Inline SVG for the status page: latency sparklines and 90-day uptime bars.

Pure functions of the numbers they are given (no clock, no I/O), returning
markup that is safe to place in HTML as is: every piece of text in it goes
through :func:`html.escape`. The page keeps them small, since it draws one of
each per check: a sparkline is one ``<polyline>`` plus a dot per failed run,
a bar chart one ``<rect>`` with a ``<title>`` tooltip per day.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import date, timedelta
from html import escape

GREEN, LIME, AMBER, RED, GREY = "#2da44e", "#8fcf5a", "#e3a008", "#d1242f", "#c8ccd0"


def uptime_colour(ratio: float | None) -> str:
    """Green at 99.9% and above, lime from 99%, amber from 95%, red below; grey: no data."""
    if ratio is None:
        return GREY
    if ratio >= 0.999:
        return GREEN
    if ratio >= 0.99:
        return LIME
    if ratio >= 0.95:
        return AMBER
    return RED


def percent(ratio: float) -> str:
    """A share as a percentage with two decimals, rounded down, so that 99.999% reads
    99.99% and "100.00%" always means no failed run at all."""
    return f"{math.floor(ratio * 10_000 + 1e-9) / 100:.2f}%"


def uptime_ratio(ratios: Sequence[float | None]) -> float | None:
    """The mean of the days that have data; None when no day has."""
    known = [r for r in ratios if r is not None]
    return sum(known) / len(known) if known else None


def uptime_bars(
    ratios: Sequence[float | None],
    last_day: date,
    *,
    bar: int = 3,
    gap: int = 1,
    height: int = 18,
) -> str:
    """One bar per day, oldest first, ``last_day`` being the last; each bar carries a
    tooltip with its day and percentage (or "no data")."""
    head, slots = _bar_slots(len(ratios), last_day, bar, gap, height)
    parts = [head]
    for (before, after), ratio in zip(slots, ratios, strict=True):
        label = "no data" if ratio is None else percent(ratio)
        parts.append(f"{before}{uptime_colour(ratio)}{after}{label}</title></rect>")
    parts.append("</svg>")
    return "".join(parts)


@functools.lru_cache(maxsize=8)
def _bar_slots(
    days: int, last_day: date, bar: int, gap: int, height: int
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The fixed parts of a bar chart, made once a day: the page draws a hundred charts
    of the same days. Dates and percentages are digits and dashes: nothing to escape."""
    step = bar + gap
    width = max(days * step - gap, 0)
    first = last_day - timedelta(days=days - 1)
    head = (
        f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        ' role="img" aria-label="daily uptime">'
    )
    slots = tuple(
        (
            f'<rect x="{i * step}" width="{bar}" height="{height}" fill="',
            f'"><title>{(first + timedelta(days=i)).isoformat()}: ',
        )
        for i in range(days)
    )
    return head, slots


def sparkline(
    runs: Sequence[tuple[float, bool]],
    *,
    width: int = 120,
    height: int = 24,
    pad: float = 2.5,
) -> str:
    """Run durations (seconds) as a line, oldest left, scaled to the slowest run; a red
    dot on every failed run. An empty SVG of the same size when there are no runs."""
    head = (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        ' role="img" aria-label="latency of recent runs">'
    )
    if not runs:
        return head + "<title>no runs yet</title></svg>"
    slowest = max(d for d, _ in runs)
    scale = (height - 2 * pad) / slowest if slowest > 0 else 0.0
    dx = (width - 2 * pad) / (len(runs) - 1) if len(runs) > 1 else 0.0
    points = [
        (pad + i * dx if len(runs) > 1 else width / 2, height - pad - d * scale)
        for i, (d, _) in enumerate(runs)
    ]
    last, failed = runs[-1][0], sum(1 for _, ok in runs if not ok)
    title = f"last {len(runs)} runs: latest {_ms(last)}, slowest {_ms(slowest)}" + (
        f", {failed} failed" if failed else ""
    )
    parts = [head, f"<title>{escape(title)}</title>"]
    parts.append(
        '<polyline fill="none" stroke="#57606a" stroke-width="1.2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        + '"/>'
    )
    parts.extend(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{RED}"/>'
        for (x, y), (_, ok) in zip(points, runs, strict=True)
        if not ok
    )
    parts.append("</svg>")
    return "".join(parts)


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
