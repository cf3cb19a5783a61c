"""SLO arithmetic as pure functions of good/total counters and ``now`` (no clock is read).

Counters are bounded: a ring of per-minute buckets covering the last
:data:`MINUTE_SPAN` (the short windows, read at one-minute resolution) and a ring of
per-hour buckets covering the SLO's longest window (30 days is 720 buckets). A window
of up to six hours is summed from minutes, a longer one from hours; either way it is
the last ``span / bucket`` buckets, the current (partial) one included. A calendar
month (``window: month``) is read from the first hour of the month, in the SLO's time
zone, to now.

A pair is judged only once its long window is covered: the counters hold runs since at
least ``long`` ago (loaded from the store after a restart). Until then a window would
read the few runs it has, and a new SLO's first failure would trip every pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from sentinel.config.slo import BurnAlert, Slo
from sentinel.config.units import format_duration
from sentinel.rules.slo_counters import HOUR as HOUR
from sentinel.rules.slo_counters import MINUTE as MINUTE
from sentinel.rules.slo_counters import MINUTE_SPAN as MINUTE_SPAN
from sentinel.rules.slo_counters import Counters as Counters
from sentinel.rules.slo_counters import Ring as Ring


def hour_offset(timezone: str) -> int:
    """Seconds past the UTC hour where the zone's hours start (1800 for Asia/Kolkata)."""
    offset = datetime(2026, 1, 1, tzinfo=ZoneInfo(timezone)).utcoffset()
    return int(offset.total_seconds()) % HOUR if offset is not None else 0


@lru_cache(maxsize=4096)
def _month(timezone: str, year: int, month: int) -> tuple[float, float]:
    zone = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=zone)
    after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.timestamp(), after.timestamp()


def month_bounds(now: float, timezone: str = "UTC") -> tuple[float, float]:
    """(start, end) of the calendar month holding ``now`` in ``timezone``, as timestamps."""
    local = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(timezone))
    return _month(timezone, local.year, local.month)


def budget_window(slo: Slo, now: float) -> tuple[float, float]:
    """(start, length) of the budget's window at ``now``: the last ``window`` seconds, or
    the calendar month so far (its length is the whole month's)."""
    if slo.window == "month":
        start, end = month_bounds(now, slo.timezone)
        return start, end - start
    return now - slo.window, float(slo.window)


def budget_sums(slo: Slo, counters: Counters, now: float) -> tuple[int, int]:
    """(good, total) over the budget's window at ``now``."""
    if slo.window == "month":
        return counters.since(budget_window(slo, now)[0], now)
    return counters.sums(now, float(slo.window))


def burn_rate(good: int, total: int, ratio: float) -> float | None:
    """How fast the budget burns: the bad share over the allowed bad share (None: no runs).
    1.0 spends exactly the budget over the SLO window."""
    if total <= 0:
        return None
    return ((total - good) / total) / (1.0 - ratio)


def pair_holds(
    alert: BurnAlert, counters: Counters, ratio: float, now: float, firing: bool = False
) -> bool:
    """Both windows burn at least ``factor`` (the Google SRE workbook's condition), and
    the counters cover the long window (a pair is not judged on less). A pair already
    ``firing`` keeps holding while its short window burns at least ``factor x
    hysteresis`` (a short window of few runs steps across ``factor`` on a steady burn)."""
    if not counters.covers(now, alert.long):
        return False
    short = alert.factor * alert.hysteresis if firing else alert.factor
    for span, factor in ((alert.long, alert.factor), (alert.short, short)):
        rate = burn_rate(*counters.sums(now, span), ratio)
        if rate is None or rate < factor:
            return False
    return True


@dataclass(frozen=True, slots=True)
class SloStatus:
    name: str
    objective: float  # ratio, e.g. 0.999
    window: float
    good: int
    total: int
    attainment: float | None  # good / total over the window
    budget_remaining: float | None  # 1 = untouched, 0 = spent, below 0 = overspent
    burn: dict[str, float | None]  # window ("5m", "1h", ...) -> burn rate
    exhaustion: float | None  # seconds until the budget is spent at the 1h burn rate
    firing: tuple[str, ...]  # alert pairs whose condition holds now
    warming: tuple[str, ...] = ()  # pairs not judged yet: their long window is not covered
    window_start: float | None = None  # a calendar month's start (None: rolling)


def window_name(seconds: float | str) -> str:
    """A window as SREs write it: ``30d``, ``6h``, ``5m`` (the largest unit that divides),
    or ``month``."""
    if isinstance(seconds, str):
        return seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return format_duration(seconds)


@dataclass(frozen=True, slots=True)
class Windows:
    """The burn-rate windows a status reads for a set of alert pairs: each distinct span
    (the pairs' and the hour), sorted, with its name. Worked out once per SLO."""

    spans: tuple[float, ...]
    names: tuple[str, ...]


@lru_cache(maxsize=256)
def _windows(spans: tuple[float, ...]) -> Windows:
    return Windows(spans, tuple(window_name(s) for s in spans))


def windows_of(alerts: dict[str, BurnAlert]) -> Windows:
    return _windows(tuple(sorted({s for a in alerts.values() for s in (a.short, a.long)} | {HOUR})))


def status(
    slo: Slo,
    counters: Counters,
    now: float,
    alerts: dict[str, BurnAlert] | None = None,
    windows: Windows | None = None,
) -> SloStatus:
    """Where an SLO stands at ``now``; ``alerts`` are its pairs and ``windows`` their
    windows (:func:`windows_of`) when the caller has them."""
    ratio = slo.ratio
    start, length = budget_window(slo, now)
    good, total = budget_sums(slo, counters, now)
    attainment = good / total if total else None
    remaining = None if attainment is None else 1.0 - (1.0 - attainment) / (1.0 - ratio)
    alerts = slo.burn_alerts() if alerts is None else alerts
    windows = windows_of(alerts) if windows is None else windows
    rates = [burn_rate(*counters.sums(now, s), ratio) for s in windows.spans]
    by_span = dict(zip(windows.spans, rates, strict=True))
    firing: list[str] = []
    warming: list[str] = []
    for name, a in alerts.items():  # pair_holds, from the rates just read
        if not counters.covers(now, a.long):
            warming.append(name)
            continue
        long, short = by_span[a.long], by_span[a.short]
        if long is not None and short is not None and min(long, short) >= a.factor:
            firing.append(name)
    return SloStatus(
        name=slo.name,
        objective=ratio,
        window=length,
        good=good,
        total=total,
        attainment=attainment,
        budget_remaining=remaining,
        burn=dict(zip(windows.names, rates, strict=True)),
        exhaustion=exhaustion(remaining, by_span[HOUR], length),
        firing=tuple(firing),
        warming=tuple(warming),
        window_start=start if slo.window == "month" else None,
    )


def exhaustion(remaining: float | None, rate: float | None, window: float) -> float | None:
    """Seconds until the budget is gone at burn ``rate`` (a rate of 1 spends a whole
    budget in ``window``); None when nothing burns, 0 when it is already spent."""
    if remaining is None or rate is None or rate <= 0:
        return None
    return max(0.0, remaining) * window / rate
