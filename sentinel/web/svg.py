"""Inline SVG for the status page: latency sparklines, 90-day uptime bars, and per SLO
an error-budget bar and a burn-down line.

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


def percent(ratio: float, digits: int = 2) -> str:
    """A share as a percentage with ``digits`` decimals, rounded down, so that 99.999%
    reads 99.99% and "100.00%" always means no failed run at all."""
    scale = 10**digits
    return f"{math.floor(ratio * 100 * scale + 1e-9) / scale:.{digits}f}%"


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


def budget_colour(remaining: float | None) -> str:
    """Green with more than half the error budget left, lime above a quarter, amber
    while some is left, red when it is spent; grey: no runs yet."""
    if remaining is None:
        return GREY
    if remaining > 0.5:
        return GREEN
    if remaining > 0.25:
        return LIME
    if remaining > 0:
        return AMBER
    return RED


def budget_bar(remaining: float | None, label: str, *, width: int = 120, height: int = 12) -> str:
    """The error budget left as a filled bar (empty when spent or overspent); ``label``
    is its text alternative (``aria-label`` and tooltip)."""
    text = escape(label)
    fill = 0.0 if remaining is None else min(max(remaining, 0.0), 1.0)
    return (
        f'<svg class="budget" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{text}"><title>{text}</title>'
        f'<rect width="{width}" height="{height}" rx="2" fill="#eaeef2"/>'
        f'<rect width="{fill * width:.1f}" height="{height}" rx="2"'
        f' fill="{budget_colour(remaining)}"/></svg>'
    )


def burn_down(
    points: Sequence[float | None],
    label: str,
    *,
    width: int = 240,
    height: int = 36,
    pad: float = 2.5,
) -> str:
    """Error budget left over time (1 = untouched, 0 = spent, below: overspent), oldest
    left, None where there is no data yet; a dashed line marks 0 when it is crossed, and
    an overspend beyond -100% is drawn at -100% (the label has the figures).
    ``label`` is its text alternative (``aria-label`` and tooltip)."""
    text = escape(label)
    head = (
        f'<svg class="burndown" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{text}"><title>{text}</title>'
    )
    points = [None if p is None else max(p, -1.0) for p in points]
    known = [p for p in points if p is not None]
    if not known:
        return head + "</svg>"
    top, bottom = max(1.0, *known), min(0.0, *known)
    scale = (height - 2 * pad) / (top - bottom)
    dx = (width - 2 * pad) / (len(points) - 1) if len(points) > 1 else 0.0

    def y(value: float) -> float:
        return pad + (top - value) * scale

    line = " ".join(f"{pad + i * dx:.1f},{y(p):.1f}" for i, p in enumerate(points) if p is not None)
    parts = [head]
    if bottom < 0:
        parts.append(
            f'<line x1="0" x2="{width}" y1="{y(0.0):.1f}" y2="{y(0.0):.1f}" stroke="{RED}"'
            ' stroke-width="0.8" stroke-dasharray="3 2"/>'
        )
    colour = budget_colour(known[-1])
    if len(known) == 1:  # a line needs two points: a dot for the first hour
        x, y0 = line.split(",")
        parts.append(f'<circle cx="{x}" cy="{y0}" r="2" fill="{colour}"/>')
    parts.append(
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{line}"/></svg>'
    )
    return "".join(parts)
