"""The status page's 90-day uptime bars, kept off the request path: the daily
uptime of every check in memory (:class:`UptimeCache`), read from the store's
rollup in the background (:mod:`sentinel.web.page` starts it with the app)."""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from sentinel.clock import Clock
from sentinel.config.models import Config

log = structlog.get_logger("sentinel.web.page")

UPTIME_DAYS = 90
UPTIME_REFRESH = 60.0  # seconds between reads of today's uptime rows
LOAD_SLICE = 500  # checks per read of the 90-day window
DAY = 86400


class UptimeSource(Protocol):
    """What the cache reads: the checks, the time, and the store's daily uptime."""

    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Clock: ...

    async def uptime_bars(
        self, days: int = 90, checks: list[str] | None = None
    ) -> dict[str, list[float | None]]: ...


class UptimeCache:
    """The daily uptime of every check over ``days`` days, in memory.

    The store reads the whole window at about 150,000 rows a second (5.7 s for
    10,000 checks x 90 days, measured), far too slow for a page view. Past days
    do not change, so the window is read once and again when the UTC day turns;
    each refresh in between reads only today's rows. Each check's days are an
    ``array('d')`` (NaN: no data): 720 bytes a check.
    """

    def __init__(self, days: int = UPTIME_DAYS) -> None:
        self.days = days
        self.day: int | None = None  # the UTC day (since the epoch) of the last bar
        self._bars: dict[str, array[float]] = {}
        self.loaded = asyncio.Event()

    def get(self, check: str) -> list[float | None]:
        bars = self._bars.get(check)
        if bars is None:
            return [None] * self.days
        return [None if math.isnan(r) else r for r in bars]

    def apply(self, day: int, found: Mapping[str, Sequence[float | None]], whole: bool) -> None:
        """Take what the store said: the whole window, or (``whole`` false) today only."""
        if whole:
            self._bars = {name: _packed(ratios, self.days) for name, ratios in found.items()}
        else:
            for name, ratios in found.items():
                bars = self._bars.get(name)
                if bars is None:
                    bars = self._bars[name] = _packed([], self.days)
                bars[-1] = math.nan if ratios[-1] is None else ratios[-1]
        self.day = day
        self.loaded.set()

    async def refresh(self, source: UptimeSource) -> None:
        before = _day(source.clock.now())
        whole = self.day != before
        if whole:
            # The whole window in slices of checks, so a page view's own reads of the
            # store get their turn between two slices instead of waiting seconds.
            names = [c.name for c in source.config.checks]
            found: dict[str, list[float | None]] = {}
            for i in range(0, len(names), LOAD_SLICE):
                found.update(await source.uptime_bars(self.days, names[i : i + LOAD_SLICE]))
        else:
            found = await source.uptime_bars(1)
        after = _day(source.clock.now())
        if after != before:  # the day turned while the store answered: read it all next time
            self.day = None
            return
        self.apply(before, found, whole)

    async def run(self, source: UptimeSource) -> None:
        while True:
            try:
                await self.refresh(source)
            except Exception as exc:
                log.warning("status_page_uptime_failed", error=type(exc).__name__)
            await source.clock.sleep(UPTIME_REFRESH)


def _day(now: datetime) -> int:
    return int(now.timestamp() // DAY)


def _packed(ratios: Sequence[float | None], days: int) -> array[float]:
    values = [math.nan if r is None else r for r in ratios[-days:]]
    return array("d", [math.nan] * (days - len(values)) + values)
