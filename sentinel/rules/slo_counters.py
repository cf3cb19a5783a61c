"""SLO counters: a ring of per-minute buckets over the last :data:`MINUTE_SPAN` and a
ring of per-hour buckets over the SLO's longest window, with running sums per window
(a bucket enters, the oldest leaves: nothing is summed again). The arithmetic that
reads them is in :mod:`sentinel.rules.slo`.

Compact by construction (issue 19's memory bar, docs/performance.md): a bucket is one
cell holding its total and its bad count (``total | bad << shift``), one byte while
both stay below 16 and wider only when a count outgrows it; the newest bucket is two
plain integers until the next one starts; the hour ring, read only when an hour ends,
is kept deflated between hours (a month of steady hours is a few dozen bytes); and the
running sums of a ring are one array of integers."""

from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Iterator
from contextlib import contextmanager

MINUTE = 60
HOUR = 3600
MINUTE_SPAN = 6 * HOUR  # windows up to this long are read at minute resolution
# Cell widths, narrowest first: (array typecode, bits of each of total and bad).
CELLS = (("B", 4), ("H", 8), ("I", 16), ("Q", 32))
# A byte's total and bad count (the one-byte width's cells decoded at C speed).
_TOTALS = bytes(c & 15 for c in range(256))
_BADS = bytes(c >> 4 for c in range(256))
_SUM = 4  # integers per running sum: bucket count, good, total, head when last read


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(1, zlib.DEFLATED, -9, 1)  # small window: 2 µs, not 45
    return packer.compress(data) + packer.flush()


class Ring:
    """Good and total counts per bucket of ``step`` seconds, the newest ``size`` buckets.

    A window's sum is its finished buckets plus the current bucket. The finished
    buckets' sums of each window read are kept as running totals: when a new bucket
    starts, the one just finished enters each window and the oldest leaves (a few
    additions, never a re-sum), and a late run adds to the windows its bucket is in. A
    window unread for a whole bucket is dropped and summed afresh when next read, so a
    calendar month's growing count keeps no stale totals. ``packed``: the finished
    buckets are kept deflated, inflated when a bucket ends or an old one is read (the
    hour ring: once an hour)."""

    __slots__ = (
        "_cells",
        "_sums",
        "_width",
        "good_now",
        "head",
        "offset",
        "packed",
        "size",
        "step",
        "total_now",
    )

    # A jump of more buckets than this (no run for a while) re-sums the windows when
    # next read rather than subtracting bucket by bucket.
    LONG_GAP = 32

    def __init__(
        self, step: int, size: int, offset: int = 0, packed: bool = False, running: bool = True
    ) -> None:
        self.step, self.size = step, size
        self.offset = offset  # buckets start ``offset`` seconds past a multiple of step
        self.packed = packed
        self._width = 0  # index into CELLS
        empty = array("B", [0]) * size
        self._cells: array[int] | bytes = _deflate(empty.tobytes()) if packed else empty
        self.head: int | None = None  # index (time // step) of the newest bucket
        self.good_now = self.total_now = 0  # the newest bucket's counts
        # [count, good, total, head when last read] of each window read: the sums of
        # its finished buckets head - count + 1 .. head - 1 (None: not ``running``, every
        # read sums its buckets afresh, C-speed slices: the minute ring, read in one-byte
        # cells, saves the array's 200 bytes for about a microsecond a read)
        self._sums: array[int] | None = array("q") if running else None

    # -- cells ---------------------------------------------------------------------

    @property
    def width(self) -> int:
        """Bytes a finished bucket takes (1, 2, 4 or 8)."""
        return 1 << self._width

    def cells(self) -> array[int]:
        """The finished buckets' cells (a copy when packed)."""
        if isinstance(self._cells, bytes):
            return array(CELLS[self._width][0], zlib.decompress(self._cells, -9))
        return self._cells

    def _keep(self, cells: array[int]) -> None:
        self._cells = _deflate(cells.tobytes()) if self.packed else cells

    @contextmanager
    def unpacked(self) -> Iterator[None]:
        """Keep the cells inflated meanwhile (loading a month of stored hours: one
        deflate at the end, not one per hour)."""
        packed, self.packed = self.packed, False
        self._cells = self.cells()
        try:
            yield
        finally:
            self.packed = packed
            self._keep(self.cells())

    def _decode(self, cell: int) -> tuple[int, int]:
        shift = CELLS[self._width][1]
        total = cell & ((1 << shift) - 1)
        return total - (cell >> shift), total

    def _put(self, cells: array[int], slot: int, good: int, total: int) -> array[int]:
        """Set a cell, widening every cell when the counts outgrow the width; returns
        the (maybe new) cells."""
        bad = total - good
        while True:
            code, shift = CELLS[self._width]
            if total >> shift == 0:
                cells[slot] = total | bad << shift
                return cells
            if self._width == len(CELLS) - 1:
                raise OverflowError(f"{good}, {total} runs in one bucket")
            decoded = [self._decode(c) for c in cells]
            self._width += 1
            code, shift = CELLS[self._width]
            cells = array(code, [t | (t - g) << shift for g, t in decoded])

    def _segment(self, cells: array[int], a: int, b: int) -> tuple[int, int]:
        """(good, total) of cells[a:b]."""
        part = cells[a:b]
        if self._width == 0:
            raw = part.tobytes()
            total = sum(raw.translate(_TOTALS))
            return total - sum(raw.translate(_BADS)), total
        shift = CELLS[self._width][1]
        mask = (1 << shift) - 1
        total = sum(c & mask for c in part)
        bad = (sum(part) - total) >> shift
        return total - bad, total

    # -- counting ------------------------------------------------------------------

    def _advance(self, index: int) -> None:
        head = self.head
        if head is None:
            self.head = index
            return
        if index <= head:
            return
        size = self.size
        cells = self._put(self.cells(), head % size, self.good_now, self.total_now)
        gap = index - head
        if self._sums:
            entered_good, entered_total = self.good_now, self.total_now
            kept = array("q")
            sums = self._sums
            for k in range(0, len(sums), _SUM):
                count = sums[k]
                if sums[k + 3] < head or gap > self.LONG_GAP:
                    continue  # summed afresh when next read
                if gap >= count:
                    kept.extend((count, 0, 0, sums[k + 3]))  # all after ``head``
                    continue
                # ``head`` enters, buckets head - count + 1 .. index - count leave
                sum_good, sum_total = sums[k + 1] + entered_good, sums[k + 2] + entered_total
                for i in range(head - count + 1, index - count + 1):
                    good, total = self._decode(cells[i % size])
                    sum_good -= good
                    sum_total -= total
                kept.extend((count, sum_good, sum_total, sums[k + 3]))
            self._sums = kept
        for i in range(head + 1, min(index, head + size) + 1):
            cells[i % size] = 0
        self._keep(cells)
        self.good_now = self.total_now = 0
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
        if index == head:
            self.good_now += good
            self.total_now += total
            return True
        # a late run: into its finished bucket and the windows whose buckets hold it
        cells = self.cells()
        slot = index % self.size
        was_good, was_total = self._decode(cells[slot])
        self._keep(self._put(cells, slot, was_good + good, was_total + total))
        sums = self._sums
        for k in range(0, len(sums) if sums is not None else 0, _SUM):
            assert sums is not None
            if index > head - sums[k]:
                sums[k + 1] += good
                sums[k + 2] += total
        return True

    # -- reading -------------------------------------------------------------------

    def bucket(self, index: int) -> tuple[int, int]:
        if self.head is None or not self.head - self.size < index <= self.head:
            return 0, 0
        if index == self.head:
            return self.good_now, self.total_now
        return self._decode(self.cells()[index % self.size])

    def buckets(self, lo: int, hi: int) -> tuple[list[int], list[int]]:
        """The good and total counts of buckets ``lo`` to ``hi``, oldest first (zero
        where the ring holds nothing)."""
        count = max(0, hi - lo + 1)
        good, total = [0] * count, [0] * count
        head = self.head
        if head is None:
            return good, total
        cells = self.cells()
        for i in range(max(lo, head - self.size + 1), min(hi, head) + 1):
            if i == head:
                good[i - lo], total[i - lo] = self.good_now, self.total_now
            else:
                good[i - lo], total[i - lo] = self._decode(cells[i % self.size])
        return good, total

    def _range(self, lo: int, hi: int) -> tuple[int, int]:
        """Sums of buckets ``lo`` to ``hi`` (inclusive) that the ring still holds."""
        head = self.head
        if head is None:
            return 0, 0
        lo, hi = max(lo, head - self.size + 1), min(hi, head)
        if lo > hi:
            return 0, 0
        good, total = (self.good_now, self.total_now) if hi == head else (0, 0)
        last = min(hi, head - 1)  # finished buckets lo .. last
        if lo <= last:
            cells = self.cells()
            a, b = lo % self.size, last % self.size
            parts = [(a, b + 1)] if a <= b else [(a, self.size), (0, b + 1)]
            for start, end in parts:
                g, t = self._segment(cells, start, end)
                good, total = good + g, total + t
        return good, total

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
        sums = self._sums
        if gap > self.LONG_GAP or sums is None:
            return self._range(index - count + 1, head)
        for k in range(0, len(sums), _SUM):
            if sums[k] == count:
                sums[k + 3] = head
                sum_good, sum_total = sums[k + 1], sums[k + 2]
                break
        else:
            sum_good, sum_total = self._range(head - count + 1, head - 1)
            sums.extend((count, sum_good, sum_total, head))
        sum_good += self.good_now
        sum_total += self.total_now
        if gap:  # buckets out of the window by now
            cells, size = self.cells(), self.size
            for i in range(head - count + 1, index - count + 1):
                good, total = self._decode(cells[i % size])
                sum_good -= good
                sum_total -= total
        return sum_good, sum_total


class Counters:
    """One SLO's counts: minutes for the short windows, hours up to ``longest``; both
    rings deflated between buckets (the minute ring is inflated once a minute, about
    5 µs, for 400 bytes an SLO)."""

    __slots__ = ("dirty_from", "first", "hours", "minutes")

    def __init__(self, longest: float, offset: int = 0) -> None:
        """``offset``: where hours start past the UTC hour (a month in a :30 time zone)."""
        self.minutes = Ring(MINUTE, MINUTE_SPAN // MINUTE, packed=True)
        self.hours = Ring(HOUR, math.ceil(longest / HOUR) + 1, offset, packed=True)
        # The earliest minute counted since the last take_dirty() (None: none).
        self.dirty_from: int | None = None
        self.first: float | None = None  # start of the earliest minute counted

    def add(self, at: float, good: bool) -> None:
        self.count(at, 1 if good else 0, 1)

    def count(self, at: float, good: int, total: int) -> None:
        """``good`` of ``total`` events at ``at`` (one run, or a ratio's increases)."""
        self.minutes.add(at, good, total)
        self.hours.add(at, good, total)
        minute = int(at // MINUTE)
        if self.dirty_from is None or minute < self.dirty_from:
            self.dirty_from = minute
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
        with self.minutes.unpacked():
            for minute in range(max(first, end - MINUTE_SPAN // MINUTE), end):
                self.minutes.add(minute * MINUTE, per_minute, per_minute)
        hours = self.hours
        with hours.unpacked():
            for index in range(hours.index(first * MINUTE), hours.index(end * MINUTE) + 1):
                start = index * HOUR + hours.offset  # the minutes of [first, end) in this hour
                lo, hi = max(first * MINUTE, start), min(end * MINUTE, start + HOUR)
                count = (math.ceil(hi / MINUTE) - math.ceil(lo / MINUTE)) * per_minute
                if count > 0:
                    hours.add(start, count, count)
        if self.first is None or first * MINUTE < self.first:
            self.first = first * MINUTE

    def covers(self, now: float, span: float) -> bool:
        """Do the counters hold runs from at least ``span`` before ``now``?"""
        return self.first is not None and now - self.first >= span

    @property
    def dirty(self) -> bool:
        """Has a minute been counted since the last take_dirty()?"""
        return self.dirty_from is not None

    def take_dirty(self) -> list[tuple[int, int, int]]:
        """(minute, good, total) of each minute with runs from the earliest counted
        since the last call to the newest: whole minutes, so writing them again
        replaces, never adds. Call it more often than every six hours (the minute
        ring's span): the daemon does each minute."""
        since, head = self.dirty_from, self.minutes.head
        self.dirty_from = None
        if since is None or head is None:
            return []
        since = max(since, head - self.minutes.size + 1)
        good, total = self.minutes.buckets(since, head)
        return [
            (since + i, g, t) for i, (g, t) in enumerate(zip(good, total, strict=True)) if t > 0
        ]

    def sums(self, now: float, span: float) -> tuple[int, int]:
        ring = self.minutes if span <= MINUTE_SPAN else self.hours
        return ring.sums(now, span)

    def since(self, start: float, now: float) -> tuple[int, int]:
        ring = self.minutes if now - start < MINUTE_SPAN else self.hours
        return ring.since(start, now)
