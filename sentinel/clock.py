"""The one place that reads time.

Everything that needs the time takes a :class:`Clock`: ``now()`` for wall time
(timezone-aware UTC), ``monotonic()`` for measuring durations, and ``sleep()``
for waiting. Tests pass a :class:`FakeClock` and advance it by hand, so logic
that depends on time (``for`` thresholds, escalation steps, heartbeats,
lateness) is tested without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def iso(ts: float | None) -> str | None:
    """A unix time as ISO 8601 in UTC (``None`` stays ``None``); formats, reads no clock."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that moves only when a test calls :meth:`advance`.

    Sleepers wake in deadline order as the clock passes their deadline, and
    each gets a chance to run before time moves further.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._wall = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._wall.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._mono = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    def _move_to(self, mono: float) -> None:
        delta = mono - self._mono
        self._mono = mono
        self._wall += timedelta(seconds=delta)

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose deadline is passed, in order."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self._mono + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._move_to(max(deadline, self._mono))
            if not fut.done():
                fut.set_result(None)
            await _settle()
        self._move_to(target)
        await _settle()

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on this clock."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())


async def sleep_or_wake(clock: Clock, wake: asyncio.Event, seconds: float | None) -> None:
    """Wait ``seconds`` of the clock's time, or until ``wake`` is set, whichever comes
    first (``None``: only for ``wake``)."""
    if seconds is None:
        await wake.wait()
        return
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waker = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, waker):
            task.cancel()
        await asyncio.gather(sleeper, waker, return_exceptions=True)


async def _settle() -> None:
    """Let woken tasks run until they block again."""
    for _ in range(10):
        await asyncio.sleep(0)
