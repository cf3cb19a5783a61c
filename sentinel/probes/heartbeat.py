"""Heartbeat probe: reads the heartbeat book the /ping endpoints write, never the network."""

from __future__ import annotations

from sentinel.clock import Clock
from sentinel.config.checks import HeartbeatCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.heartbeats import HeartbeatBook, judge
from sentinel.probes.results import Outcome


class HeartbeatProbe:
    def __init__(self, check: HeartbeatCheck, ctx: ProbeContext) -> None:
        self._name = check.name
        self._every = check.every
        self._grace = check.grace
        self._clock: Clock = ctx.clock
        self._book: HeartbeatBook = ctx.heartbeats

    async def run(self) -> Outcome:
        beat = self._book.get(self._name)
        return judge(beat, self._every, self._grace, self._clock.now(), self._book.watching_since)

    async def close(self) -> None:
        return None
