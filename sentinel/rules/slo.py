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

import math
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from sentinel.config.slo import BurnAlert, Slo
from sentinel.config.units import format_duration

MINUTE = 60
HOUR = 3600
MINUTE_SPAN = 6 * HOUR  # windows up to this long are read at minute resolution


class Ring:
    """Good and total counts per bucket of ``step`` seconds, the newest ``size`` buckets.

    A window's sum is its finished buckets (summed once per bucket step and window, with
    C-speed slice sums, then kept up to date as late runs land in them) plus the current
    bucket, so ticking 10,000 SLOs costs a few additions each."""

    __slots__ = ("_cache", "good", "head", "offset", "size", "step", "total")

    def __init__(self, step: int, size: int, offset: int = 0) -> None:
        self.step, self.size = step, size
        self.offset = offset  # buckets start ``offset`` seconds past a multiple of step
        self.good = array("i", bytes(4 * size))  # 32 bits: 2 billion runs a bucket
        self.total = array("i", bytes(4 * size))
        self.head: int | None = None  # index (time // step) of the newest bucket
        self._cache: dict[int, list[int]] = {}  # bucket count -> [index, good, total]

    def _advance(self, index: int) -> None:
        if self.head is None:
            self.head = index
            return
        if index <= self.head:
            return
        for i in range(self.head + 1, min(index, self.head + self.size) + 1):
            self.good[i % self.size] = 0
            self.total[i % self.size] = 0
        self.head = index

    def index(self, at: float) -> int:
        return int((at - self.offset) // self.step)

    def add(self, at: float, good: int, total: int) -> bool:
        """Count into the bucket of ``at``; False (ignored) when it is older than the ring."""
        index = self.index(at)
        self._advance(index)
        assert self.head is not None
        if index <= self.head - self.size:
            return False
        self.good[index % self.size] += good
        self.total[index % self.size] += total
        for count, entry in self._cache.items():
            if entry[0] - count < index < entry[0]:  # a finished bucket of a cached window
                entry[1] += good
                entry[2] += total
        return True

    def bucket(self, index: int) -> tuple[int, int]:
        if self.head is None or not self.head - self.size < index <= self.head:
            return 0, 0
        return self.good[index % self.size], self.total[index % self.size]

    def _range(self, lo: int, hi: int) -> tuple[int, int]:
        """Sums of buckets ``lo`` to ``hi`` (inclusive) that the ring still holds."""
        if self.head is None:
            return 0, 0
        lo, hi = max(lo, self.head - self.size + 1), min(hi, self.head)
        if lo > hi:
            return 0, 0
        a, b = lo % self.size, hi % self.size
        if a <= b:
            return sum(self.good[a : b + 1]), sum(self.total[a : b + 1])
        return (
            sum(self.good[a:]) + sum(self.good[: b + 1]),
            sum(self.total[a:]) + sum(self.total[: b + 1]),
        )

    def sums(self, now: float, span: float) -> tuple[int, int]:
        """(good, total) over the last ``span`` seconds before ``now``, in whole buckets:
        the ``span / step`` newest, the current (partial) one included."""
        return self.last(self.index(now), min(self.size, max(1, math.ceil(span / self.step))))

    def since(self, start: float, now: float) -> tuple[int, int]:
        """(good, total) from the bucket holding ``start`` to the one holding ``now``."""
        index = self.index(now)
        return self.last(index, min(self.size, max(1, index - self.index(start) + 1)))

    def last(self, index: int, count: int) -> tuple[int, int]:
        """Sums of the ``count`` buckets up to ``index``, that one included."""
        if self.head is None or index < self.head:
            return self._range(index - count + 1, index)
        entry = self._cache.get(count)
        if entry is None or entry[0] != index:
            for key in [k for k, e in self._cache.items() if e[0] != index]:
                del self._cache[key]  # a month's count grows each hour: drop the stale ones
            entry = self._cache[count] = [index, *self._range(index - count + 1, index - 1)]
        good, total = self.bucket(index)
        return entry[1] + good, entry[2] + total


class Counters:
    """One SLO's counts: minutes for the short windows, hours up to ``longest``."""

    __slots__ = ("dirty", "first", "hours", "minutes")

    def __init__(self, longest: float, offset: int = 0) -> None:
        """``offset``: where hours start past the UTC hour (a month in a :30 time zone)."""
        self.minutes = Ring(MINUTE, MINUTE_SPAN // MINUTE)
        self.hours = Ring(HOUR, math.ceil(longest / HOUR) + 1, offset)
        self.dirty: set[int] = set()  # minutes counted since the last take_dirty()
        self.first: float | None = None  # start of the earliest minute counted

    def add(self, at: float, good: bool) -> None:
        self.count(at, 1 if good else 0, 1)

    def count(self, at: float, good: int, total: int) -> None:
        """``good`` of ``total`` events at ``at`` (one run, or a ratio's increases)."""
        self.minutes.add(at, good, total)
        self.hours.add(at, good, total)
        minute = int(at // MINUTE)
        self.dirty.add(minute)
        if self.first is None or minute * MINUTE < self.first:
            self.first = minute * MINUTE

    def load(self, minute: int, good: int, total: int) -> None:
        """A stored minute (from before a restart)."""
        self.minutes.add(minute * MINUTE, good, total)
        self.hours.add(minute * MINUTE, good, total)
        if self.first is None or minute * MINUTE < self.first:
            self.first = minute * MINUTE

    def seed(self, before: float, span: float, per_minute: int) -> None:
        """Healthy history: ``per_minute`` good runs in each minute of the ``span`` seconds
        before ``before`` (``sentinel simulate``: the checks were up before the scenario)."""
        first, end = int((before - span) // MINUTE), int(before // MINUTE)
        for minute in range(max(first, end - MINUTE_SPAN // MINUTE), end):
            self.minutes.add(minute * MINUTE, per_minute, per_minute)
        for index in range(self.hours.index(first * MINUTE), self.hours.index(end * MINUTE) + 1):
            start = index * HOUR + self.hours.offset  # the minutes of [first, end) in this hour
            lo, hi = max(first * MINUTE, start), min(end * MINUTE, start + HOUR)
            count = (math.ceil(hi / MINUTE) - math.ceil(lo / MINUTE)) * per_minute
            if count > 0:
                self.hours.add(start, count, count)
        if self.first is None or first * MINUTE < self.first:
            self.first = first * MINUTE

    def covers(self, now: float, span: float) -> bool:
        """Do the counters hold runs from at least ``span`` before ``now``?"""
        return self.first is not None and now - self.first >= span

    def take_dirty(self) -> list[tuple[int, int, int]]:
        """(minute, good, total) of each minute counted since the last call: the
        whole minute's counts, so writing them again replaces, never adds. Call it
        more often than every six hours (the minute ring's span): the daemon does each
        minute."""
        out = [(m, *self.minutes.bucket(m)) for m in sorted(self.dirty)]
        self.dirty.clear()
        return [row for row in out if row[2] > 0]

    def sums(self, now: float, span: float) -> tuple[int, int]:
        ring = self.minutes if span <= MINUTE_SPAN else self.hours
        return ring.sums(now, span)

    def since(self, start: float, now: float) -> tuple[int, int]:
        ring = self.minutes if now - start < MINUTE_SPAN else self.hours
        return ring.since(start, now)


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


def status(
    slo: Slo, counters: Counters, now: float, alerts: dict[str, BurnAlert] | None = None
) -> SloStatus:
    """Where an SLO stands at ``now``; ``alerts`` are its pairs when the caller has them."""
    ratio = slo.ratio
    start, length = budget_window(slo, now)
    good, total = budget_sums(slo, counters, now)
    attainment = good / total if total else None
    remaining = None if attainment is None else 1.0 - (1.0 - attainment) / (1.0 - ratio)
    alerts = slo.burn_alerts() if alerts is None else alerts
    spans = sorted({s for a in alerts.values() for s in (a.short, a.long)} | {HOUR})
    rates = {s: burn_rate(*counters.sums(now, s), ratio) for s in spans}
    burn = {window_name(s): rate for s, rate in rates.items()}

    def holds(a: BurnAlert) -> bool:  # pair_holds, from the rates just read
        long, short = rates[a.long], rates[a.short]
        return (
            counters.covers(now, a.long)
            and long is not None
            and short is not None
            and min(long, short) >= a.factor
        )

    return SloStatus(
        name=slo.name,
        objective=ratio,
        window=length,
        good=good,
        total=total,
        attainment=attainment,
        budget_remaining=remaining,
        burn=burn,
        exhaustion=exhaustion(remaining, rates[HOUR], length),
        firing=tuple(n for n, a in alerts.items() if holds(a)),
        warming=tuple(n for n, a in alerts.items() if not counters.covers(now, a.long)),
        window_start=start if slo.window == "month" else None,
    )


def exhaustion(remaining: float | None, rate: float | None, window: float) -> float | None:
    """Seconds until the budget is gone at burn ``rate`` (a rate of 1 spends a whole
    budget in ``window``); None when nothing burns, 0 when it is already spent."""
    if remaining is None or rate is None or rate <= 0:
        return None
    return max(0.0, remaining) * window / rate
