"""What ``sentinel simulate`` puts in place of real time and real notifiers.

:class:`SimClock` is a :class:`~sentinel.clock.FakeClock` that can jump
straight to the next moment anything can happen; :class:`Recorder` is a
notifier that records each notice and answers "accepted", paced like the
provider it stands in for (``notify.pace``). Nothing leaves the process.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.clock import FakeClock
from sentinel.notify.base import Notice, Sent

OVERSHOOT = 1e-7  # below the wall clock's microsecond: see SimClock.jump

# (unix time, channel, channel type, address, notice kind, rule, check)
Record = tuple[float, str, str, str | None, str, str, str]


class SimClock(FakeClock):
    def next_wake(self) -> float | None:
        """The monotonic deadline of the earliest task sleeping on this clock."""
        return min((d for d, _, fut in self._sleepers if not fut.done()), default=None)

    async def jump(self, seconds: float) -> bool:
        """:meth:`advance`, a hair further (a sleeper due at the target wakes despite
        rounding; the wall clock keeps whole microseconds), and without yielding to
        the loop when nobody sleeps until then. True when a sleeper woke."""
        seconds += OVERSHOOT
        wake = self.next_wake()
        if wake is None or wake > self.monotonic() + seconds:
            self._move_to(self.monotonic() + seconds)
            return False
        await self.advance(seconds)
        return True


@dataclass
class Recorder:
    """A notifier that sends nothing: it records the notice and says it was accepted."""

    name: str
    kind: str
    clock: FakeClock
    sent: list[Record]
    min_interval: float = 0.0
    digest: bool = True

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        at = self.clock.now().timestamp()
        for alert in notice.alerts or ((notice.alert,) if notice.alert else ()):
            self.sent.append(
                (at, self.name, self.kind, address, notice.kind, alert.rule, alert.check)
            )
        return Sent()

    async def close(self) -> None:
        return None
