"""The clock a cluster keeps time by: the database's, not the host's.

Every lease, claim and due time in a cluster is compared on one clock, so hosts
whose clocks disagree by minutes still agree on who is alive and when a step is
due. :class:`DbClock` is a :class:`~sentinel.clock.Clock` whose wall time follows
the database: each heartbeat measures the offset between ``clock_timestamp()``
and the host clock (:func:`offset_of`, half the round trip taken as the answer's
delay) and the clock adds it. ``monotonic()`` and ``sleep()`` stay the host's:
they measure durations, which skew does not change.

:class:`OffsetClock` shifts a clock by a fixed amount; it exists for the clock-skew
tests (``SENTINEL_TEST_CLOCK_OFFSET``, never meant for production).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sentinel.clock import Clock

# A measurement whose round trip took longer than this is too vague to use: the
# previous offset stays (a slow query must not move the clock by its delay).
MAX_RTT = 1.0


def offset_of(sent: float, answered: float, db_now: float) -> float | None:
    """The database's clock minus ours, from a query sent at ``sent`` and answered at
    ``answered`` (our clock) that read ``db_now`` (theirs); None when the round trip
    was too slow to say (or our clock went backwards)."""
    rtt = answered - sent
    if rtt < 0 or rtt > MAX_RTT:
        return None
    return db_now - (sent + rtt / 2)


class OffsetClock:
    """``base`` shifted by ``offset`` seconds (wall time only)."""

    def __init__(self, base: Clock, offset: float) -> None:
        self.base = base
        self.offset = timedelta(seconds=offset)

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def monotonic(self) -> float:
        return self.base.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


class DbClock(OffsetClock):
    """The host's clock corrected by the last measured offset to the database's."""

    def __init__(self, base: Clock) -> None:
        super().__init__(base, 0.0)
        self.measured = False

    def follow(self, offset: float) -> None:
        """Take a new measurement (seconds the database is ahead of ``base``)."""
        self.offset = timedelta(seconds=offset)
        self.measured = True

    @property
    def seconds(self) -> float:
        """The offset in use, in seconds."""
        return self.offset.total_seconds()
