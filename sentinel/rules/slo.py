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
# The widths of a ring's counts (array typecodes), narrowest first: 1, 2, then 4 bytes.
WIDTHS = ("B", "H", "i")


class Ring:
    """Good and total counts per bucket of ``step`` seconds, the newest ``size`` buckets.

    A window's sum is its finished buckets plus the current bucket. The finished
    buckets' sums of each window read are kept as running totals: when a new bucket
    starts, the one just finished enters each window and the oldest leaves (a few
    additions, never a re-sum), and a late run adds to the windows its bucket is in. A
    window unread for a whole bucket is dropped and summed afresh (C-speed slice sums)
    when next read, so a calendar month's growing count keeps no stale totals."""

    __slots__ = ("_sums", "good", "head", "offset", "size", "step", "total")

    # A jump of more buckets than this (no run for a while) re-sums the windows when
    # next read rather than subtracting bucket by bucket.
    LONG_GAP = 32

    def __init__(self, step: int, size: int, offset: int = 0) -> None:
        self.step, self.size = step, size
        self.offset = offset  # buckets start ``offset`` seconds past a multiple of step
        # One byte a count to start with, widened for the whole ring when a count
        # outgrows it: 255 runs a bucket, then 65,535, then 2 billion (WIDTHS).
        self.good = array(WIDTHS[0], bytes(size))
        self.total = array(WIDTHS[0], bytes(size))
        self.head: int | None = None  # index (time // step) of the newest bucket
        # bucket count -> [good, total, head when last read]: the sums of the finished
        # buckets head - count + 1 .. head - 1 of each window read
        self._sums: dict[int, list[int]] = {}

    def _advance(self, index: int) -> None:
        head = self.head
        if head is None:
            self.head = index
            return
        if index <= head:
            return
        size, good, total = self.size, self.good, self.total
        gap = index - head
        if self._sums:
            entered_good, entered_total = good[head % size], total[head % size]
            for count, entry in list(self._sums.items()):
                if entry[2] < head or gap > self.LONG_GAP:
                    del self._sums[count]  # summed afresh when next read
                elif gap >= count:
                    entry[0] = entry[1] = 0  # its finished buckets are all after ``head``
                else:  # ``head`` enters, buckets head - count + 1 .. index - count leave
                    sum_good, sum_total = entry[0] + entered_good, entry[1] + entered_total
                    for i in range(head - count + 1, index - count + 1):
                        sum_good -= good[i % size]
                        sum_total -= total[i % size]
                    entry[0], entry[1] = sum_good, sum_total
        for i in range(head + 1, min(index, head + size) + 1):
            good[i % size] = 0
            total[i % size] = 0
        self.head = index

    def index(self, at: float) -> int:
        return int((at - self.offset) // self.step)

    def add(self, at: float, good: int, total: int) -> bool:
        """Count into the bucket of ``at``; False (ignored) when it is older than the ring."""
        index = int((at - self.offset) // self.step)
        head = self.head
        if head is None or index > head:
            self._advance(index)
            head = index
        elif index <= head - self.size:
            return False
        slot = index % self.size
        sum_good, sum_total = self.good[slot] + good, self.total[slot] + total
        try:
            self.good[slot] = sum_good
            self.total[slot] = sum_total
        except OverflowError:
            self._widen(slot, sum_good, sum_total)
        if index < head:  # a late run: into the windows whose finished buckets hold it
            for count, entry in self._sums.items():
                if index > head - count:
                    entry[0] += good
                    entry[1] += total
        return True

    def _widen(self, slot: int, good: int, total: int) -> None:
        """Set a bucket to counts its arrays' width cannot hold, widening them."""
        while True:
            code = self.good.typecode
            if code == WIDTHS[-1]:
                raise OverflowError(f"{good}, {total} runs in one bucket")
            wider = WIDTHS[WIDTHS.index(code) + 1]
            self.good, self.total = array(wider, self.good), array(wider, self.total)
            try:
                self.good[slot] = good
                self.total[slot] = total
                return
            except OverflowError:
                continue

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
        head = self.head
        if head is None or index < head or count > self.size:
            return self._range(index - count + 1, index)
        gap = index - head
        if gap >= count:
            return 0, 0  # nothing counted since the window's first bucket
        if gap > self.LONG_GAP:
            return self._range(index - count + 1, head)
        entry = self._sums.get(count)
        if entry is None:
            entry = self._sums[count] = [*self._range(head - count + 1, head - 1), head]
        else:
            entry[2] = head
        size, good, total = self.size, self.good, self.total
        sum_good = entry[0] + good[head % size]
        sum_total = entry[1] + total[head % size]
        for i in range(head - count + 1, index - count + 1):  # out of the window by now
            sum_good -= good[i % size]
            sum_total -= total[i % size]
        return sum_good, sum_total


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
        start = minute * MINUTE
        if self.first is None or start < self.first:
            self.first = start

    def load(self, minute: int, good: int, total: int) -> None:
        """A stored minute (from before a restart)."""
        self.minutes.add(minute * MINUTE, good, total)
        self.hours.add(minute * MINUTE, good, total)
        if self.first is None or minute * MINUTE < self.first:
            self.first = minute * MINUTE

    def load_hour(self, minute: int, good: int, total: int, first: int) -> None:
        """A stored hour (minutes older than the minute ring, rolled up by the store):
        into the hours only, where its minutes would have gone (a row never straddles
        an hour of the ring), ``first`` its earliest minute."""
        self.hours.add(minute * MINUTE, good, total)
        if self.first is None or first * MINUTE < self.first:
            self.first = first * MINUTE

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
