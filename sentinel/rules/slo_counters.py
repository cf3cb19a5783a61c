"""SLO counters: a ring of per-minute buckets over the last :data:`MINUTE_SPAN` and a
ring of per-hour buckets over the SLO's longest window, with running sums per window
(a bucket enters, the oldest leaves: nothing is summed again). The arithmetic that
reads them is in :mod:`sentinel.rules.slo`."""

from __future__ import annotations

import math
from array import array

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
