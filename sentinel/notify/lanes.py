"""The dispatcher's lanes: one per channel, its queue of open deliveries oldest
first, and what is due next in it (:func:`due`, pure); the intake that counts rows
for storm digests before they are written and queues them once they are."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from sentinel.clock import Clock
from sentinel.config.models import Notifications
from sentinel.metrics import Metrics
from sentinel.notify.base import Notifier
from sentinel.notify.outbox import Delivery
from sentinel.notify.retry import TokenBucket
from sentinel.notify.storm import StormGate
from sentinel.store.protocols import OutboxStore

log = structlog.get_logger("sentinel.notify")
EARLY = 0.002  # run what is due within this: uvloop's clock has millisecond resolution
BURST = 5.0  # sends a rate-limited channel may make at once before its pace applies
SETTLE_YIELDS = 5  # loop turns for a parked worker's sleep to be registered with the clock


@dataclass
class Lane:
    """One channel's queue of open deliveries, oldest first."""

    notifier: Notifier
    kind: str
    items: list[Delivery] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(0.0, BURST))
    task: asyncio.Task[None] | None = None
    failing_since: float | None = None  # first retryable failure since the last send
    # sent, but the store failed to record it: written before the lane sends anything else
    unrecorded: list[Delivery] = field(default_factory=list)
    parked: bool = False  # the worker sleeps until its next due time or new rows
    until: float | None = None  # while parked: the clock's monotonic time it wakes at

    def __post_init__(self) -> None:
        self.pace()

    def pace(self) -> None:
        interval = self.notifier.min_interval
        self.bucket = TokenBucket(1.0 / interval if interval > 0 else 0.0, BURST)


class Lanes:
    """The channels' lanes and what the dispatcher knows across them."""

    def __init__(
        self,
        store: OutboxStore,
        clock: Clock,
        metrics: Metrics,
        options: Notifications,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._options = options
        self._jitter = jitter
        self._lanes: dict[str, Lane] = {}
        self._orphans: list[Delivery] = []  # rows for channels that no longer exist
        self.threads: dict[tuple[str, str, str], dict[str, str]] = {}
        self.broken: dict[str, str] = {}  # channel -> the permanent error's reason
        self.storm = StormGate(options.storm.window, options.storm.threshold, options.storm.spacing)
        self.on_sent: list[Callable[[Delivery], Awaitable[None] | None]] = []
        self._running = False
        self._busy = 0
        self._starting = False  # start() reads the store's open rows
        self._changed = asyncio.Event()  # set when a worker parks or a lane stops

    def idle(self) -> bool:
        """Every worker waits for the clock to move or for new rows: nothing is being
        sent, no store I/O is in flight and nothing due now is left unsent (a worker
        whose wake-up time the clock has reached is not waiting any more)."""
        if self._busy or self._starting:
            return False
        now = self._clock.monotonic()
        return all(
            lane.task is None
            or (lane.parked and not lane.wake.is_set() and (lane.until is None or now < lane.until))
            for lane in self._lanes.values()
        )

    async def settled(self) -> None:
        """Return once :meth:`idle`, and the parked workers' sleeps are on the clock:
        what the clock moving next will wake is known. Woken by the workers as they
        park (no polling, no real time), so a fake clock can be moved right after.
        Unbounded: a caller that must not hang bounds it (``asyncio.wait_for``)."""
        while True:
            self._changed.clear()
            if self.idle():
                await _yield(SETTLE_YIELDS)  # sleep_or_wake's sleeper reaches the clock
                if self.idle():
                    return
                continue
            await self._changed.wait()

    def _stirred(self) -> None:
        """Something that :meth:`idle` reads changed towards idle: look again."""
        self._changed.set()

    def hold_storms(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Before they are written: count them, and mark those a storm holds."""
        out = []
        for d in deliveries:
            if not self._foldable(d) or d.state == "waiting":
                out.append(d)  # reports and tests are never folded into a digest
                continue
            until = self.storm.admit(
                d.channel, d.address, d.fingerprint, d.notice.kind, d.created_at
            )
            out.append(d if until is None else d.with_(state="held", next_at=until))
        return out

    def _foldable(self, d: Delivery) -> bool:
        """A notice about an alert on a channel that digests; never what a person wrote
        (an incident's status update) or a reminder to write one: a digest has no room."""
        lane = self._lanes.get(d.channel)
        return (
            lane is not None
            and lane.notifier.digest
            and d.notice.alert is not None
            and d.notice.kind not in ("update", "reminder")
        )

    def submit(self, deliveries: Sequence[Delivery]) -> None:
        """Written rows, to be sent by their channel's worker."""
        for d in deliveries:
            lane = self._lanes.get(d.channel)
            if lane is None:
                self._orphans.append(d)
                log.warning("notify_channel_unknown", channel=d.channel, target=d.target)
                continue
            lane.items.append(d)
            lane.wake.set()
        self._metrics.outbox_open.set(self.open_count())

    def adopt(self, rows: Sequence[Delivery]) -> int:
        """Open rows found in the shared outbox (another member's, left unsent): queue
        those not queued here already; the claim decides who sends. Returns how many."""
        queued = {d.dedup for lane in self._lanes.values() for d in lane.items}
        queued |= {d.dedup for d in self._orphans}
        new = [d for d in rows if d.dedup not in queued]
        self.submit(new)
        for lane in self._lanes.values():
            lane.items.sort(key=lambda d: (d.created_at, d.id or 0))
        return len(new)

    def open_count(self) -> int:
        return sum(len(lane.items) for lane in self._lanes.values()) + len(self._orphans)

    def lanes(self) -> dict[str, list[Delivery]]:
        return {name: list(lane.items) for name, lane in self._lanes.items()}

    def _kind(self, channel: str) -> str:
        lane = self._lanes.get(channel)
        return lane.kind if lane is not None else "unknown"

    def _remove(self, lane: Lane, done: list[Delivery]) -> None:
        keys = {d.dedup for d in done}
        lane.items = [x for x in lane.items if x.dedup not in keys]
        self._metrics.outbox_open.set(self.open_count())

    def _replace(self, lane: Lane, old: Delivery, new: Delivery) -> None:
        lane.items = [new if x.dedup == old.dedup else x for x in lane.items]


def due(lane: Lane, now: float) -> tuple[list[Delivery], float | None]:
    """What to send now, else how long until something is due. Whichever is due
    first: the oldest pending row, or everything one address holds (a digest) once
    its first row is. In order: a retry of the head holds the rows behind it, held
    ones written after it too (a resolution in a digest never overtakes its alert)."""
    head = next((d for d in lane.items if d.state == "pending"), None)
    held = [d for d in lane.items if d.state == "held"]
    first = min(held, key=lambda d: d.next_at, default=None)
    if head is not None and (
        first is None
        or head.next_at <= first.next_at
        or (head.attempts > 0 and head.created_at <= min(d.created_at for d in held))
    ):
        if head.next_at <= now + EARLY:
            return [head], None
        return [], head.next_at - now
    if first is not None:
        if first.next_at <= now + EARLY:
            group = [d for d in held if d.address == first.address]
            return sorted(group, key=lambda d: (d.created_at, d.id or 0)), None
        return [], first.next_at - now
    return [], None


async def _yield(turns: int) -> None:
    """Let the tasks made ready run, ``turns`` loop turns (no time passes)."""
    for _ in range(turns):
        await asyncio.sleep(0)
