"""SLO arithmetic as pure functions of good/total counters and ``now`` (no clock is read).

Counters are bounded: a ring of per-minute buckets covering the last
:data:`MINUTE_SPAN` (the short windows, read at one-minute resolution) and a ring of
per-hour buckets covering the SLO's longest window (30 days is 720 buckets). A window
of up to six hours is summed from minutes, a longer one from hours; either way it is
the last ``span / bucket`` buckets, the current (partial) one included.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

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

    __slots__ = ("_cache", "good", "head", "size", "step", "total")

    def __init__(self, step: int, size: int) -> None:
        self.step, self.size = step, size
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

    def add(self, at: float, good: int, total: int) -> bool:
        """Count into the bucket of ``at``; False (ignored) when it is older than the ring."""
        index = int(at // self.step)
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
        index = int(now // self.step)
        count = min(self.size, max(1, math.ceil(span / self.step)))
        if self.head is None or index < self.head:
            return self._range(index - count + 1, index)
        entry = self._cache.get(count)
        if entry is None or entry[0] != index:
            entry = self._cache[count] = [index, *self._range(index - count + 1, index - 1)]
        good, total = self.bucket(index)
        return entry[1] + good, entry[2] + total


class Counters:
    """One SLO's counts: minutes for the short windows, hours up to ``longest``."""

    __slots__ = ("dirty", "hours", "minutes")

    def __init__(self, longest: float) -> None:
        self.minutes = Ring(MINUTE, MINUTE_SPAN // MINUTE)
        self.hours = Ring(HOUR, math.ceil(longest / HOUR) + 1)
        self.dirty: set[int] = set()  # minutes counted since the last take_dirty()

    def add(self, at: float, good: bool) -> None:
        g = 1 if good else 0
        self.minutes.add(at, g, 1)
        self.hours.add(at, g, 1)
        self.dirty.add(int(at // MINUTE))

    def load(self, minute: int, good: int, total: int) -> None:
        """A stored minute (from before a restart)."""
        self.minutes.add(minute * MINUTE, good, total)
        self.hours.add(minute * MINUTE, good, total)

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


def burn_rate(good: int, total: int, ratio: float) -> float | None:
    """How fast the budget burns: the bad share over the allowed bad share (None: no runs).
    1.0 spends exactly the budget over the SLO window."""
    if total <= 0:
        return None
    return ((total - good) / total) / (1.0 - ratio)


def pair_holds(alert: BurnAlert, counters: Counters, ratio: float, now: float) -> bool:
    """Both windows burn at least ``factor`` (the Google SRE workbook's condition)."""
    for span in (alert.long, alert.short):
        rate = burn_rate(*counters.sums(now, span), ratio)
        if rate is None or rate < alert.factor:
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


def window_name(seconds: float) -> str:
    """A window as SREs write it: ``30d``, ``6h``, ``5m`` (the largest unit that divides)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return format_duration(seconds)


def status(
    slo: Slo, counters: Counters, now: float, alerts: dict[str, BurnAlert] | None = None
) -> SloStatus:
    """Where an SLO stands at ``now``; ``alerts`` are its pairs when the caller has them."""
    ratio = slo.ratio
    good, total = counters.sums(now, slo.window)
    attainment = good / total if total else None
    remaining = None if attainment is None else 1.0 - (1.0 - attainment) / (1.0 - ratio)
    alerts = slo.burn_alerts() if alerts is None else alerts
    spans = sorted({s for a in alerts.values() for s in (a.short, a.long)} | {HOUR})
    burn = {window_name(s): burn_rate(*counters.sums(now, s), ratio) for s in spans}
    current = burn[window_name(HOUR)]
    return SloStatus(
        name=slo.name,
        objective=ratio,
        window=slo.window,
        good=good,
        total=total,
        attainment=attainment,
        budget_remaining=remaining,
        burn=burn,
        exhaustion=exhaustion(remaining, current, slo.window),
        firing=tuple(n for n, a in alerts.items() if pair_holds(a, counters, ratio, now)),
    )


def exhaustion(remaining: float | None, rate: float | None, window: float) -> float | None:
    """Seconds until the budget is gone at burn ``rate`` (a rate of 1 spends a whole
    budget in ``window``); None when nothing burns, 0 when it is already spent."""
    if remaining is None or rate is None or rate <= 0:
        return None
    return max(0.0, remaining) * window / rate
