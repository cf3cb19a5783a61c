"""The dispatcher: sends what the outbox holds, one worker per channel, in order.

Each channel's worker takes its oldest open delivery, waits for the
provider's rate limit (``Notifier.min_interval``), sends, and records the
outcome in the store before it takes the next:

- accepted: ``sent``; the first message's ``ref`` is kept so later notices
  about the same alert reply in its thread (Slack);
- retryable (429, 5xx, network, timeout): attempted again after the
  provider's ``Retry-After`` or our backoff with jitter; the channel waits,
  so notices go out in the order they were written;
- permanent (bad token, unknown channel or number): ``failed``; the channel
  is marked broken and the contact's next method (``fallback``) gets a new
  delivery, so the step goes on instead of retrying for ever;
- older than ``notifications.max_age``: ``dead``, counted as a dead letter.

In a storm (many distinct alerts to one address, :mod:`sentinel.notify.storm`)
the address's new rows are written ``held``; everything one address holds goes
out as one digest once its oldest row has waited ``notifications.storm.spacing``.
Held rows are rows like the others: a restart sends them. Delivery is at least
once: a crash between a provider accepting and the store recording it sends
that notice again on restart.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from sentinel.clock import Clock, iso, sleep_or_wake
from sentinel.config.models import Notifications
from sentinel.metrics import Metrics
from sentinel.notify.base import DeliveryError, Notifier
from sentinel.notify.outbox import Delivery
from sentinel.notify.retry import TokenBucket, retry_delay
from sentinel.notify.storm import StormGate, fold
from sentinel.store.protocols import OutboxStore

log = structlog.get_logger("sentinel.notify")
EARLY = 0.002  # run what is due within this: uvloop's clock has millisecond resolution
BURST = 5.0  # sends a rate-limited channel may make at once before its pace applies
DOWN_AFTER = 300.0  # retryable failures only, this long: the channel is shown broken
PAUSED_RECHECK = 0.5  # a member that may not send looks again this often


class Gate(Protocol):
    """Several replicas (sentinel.cluster.claims): whether this member may send now,
    and the claim that makes it the one sender of a row. Without a gate (one process)
    every row is this process's own."""

    def may_send(self) -> bool: ...

    async def claim(self, rows: Sequence[Delivery]) -> set[int]:
        """The ids of ``rows`` now claimed by this member (the others are someone
        else's, or done)."""
        ...


@dataclass
class _Lane:
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

    def __post_init__(self) -> None:
        self.pace()

    def pace(self) -> None:
        interval = self.notifier.min_interval
        self.bucket = TokenBucket(1.0 / interval if interval > 0 else 0.0, BURST)


class Dispatcher:
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
        self._lanes: dict[str, _Lane] = {}
        self._orphans: list[Delivery] = []  # rows for channels that no longer exist
        self.threads: dict[tuple[str, str, str], dict[str, str]] = {}
        self.broken: dict[str, str] = {}  # channel -> the permanent error's reason
        self.storm = StormGate(options.storm.window, options.storm.threshold, options.storm.spacing)
        self.on_sent: list[Callable[[Delivery], Awaitable[None] | None]] = []
        self._running = False
        self._busy = 0
        self.gate: Gate | None = None
        self._paused = False

    def idle(self) -> bool:
        """Every worker waits for the clock to move or for new rows: nothing is being
        sent and nothing due now is left unsent (tests wait for this after I/O)."""
        if self._busy:
            return False
        return all(
            lane.task is None or (lane.parked and not lane.wake.is_set())
            for lane in self._lanes.values()
        )

    # -- lifecycle -----------------------------------------------------------

    def configure(
        self, notifiers: Mapping[str, tuple[str, Notifier]], options: Notifications
    ) -> list[Notifier]:
        """Channels from a (re)loaded config: name -> (type, notifier). Returns the
        notifiers no longer used (the caller closes them once their lanes stop)."""
        self._options = options
        storm = options.storm
        self.storm.window, self.storm.threshold = storm.window, storm.threshold
        self.storm.spacing = storm.spacing
        retired: list[Notifier] = []
        for name, lane in list(self._lanes.items()):
            wanted = notifiers.get(name)
            if wanted is None or wanted[1] is not lane.notifier:
                retired.append(lane.notifier)
                if wanted is None:
                    if lane.task is not None:
                        lane.task.cancel()
                    self._orphans.extend(lane.items)
                    del self._lanes[name]
                else:
                    lane.kind, lane.notifier = wanted
                    lane.pace()
        for name, (kind, notifier) in notifiers.items():
            if name not in self._lanes:
                self._lanes[name] = _Lane(notifier, kind)
                if self._running:
                    self._start_lane(name)
        orphans, self._orphans = self._orphans, []
        self.submit(orphans)
        return retired

    async def start(self) -> None:
        self.threads = await self._store.thread_refs()
        self._running = True
        for name in self._lanes:
            self._start_lane(name)
        rows = await self._store.open_deliveries()
        # The gate's memory, rebuilt from what is still open: alerts delivered before
        # the restart are forgotten, so a restart can only page sooner, never later.
        for d in sorted(rows, key=lambda d: d.created_at):
            if self._foldable(d):
                self.storm.admit(d.channel, d.address, d.fingerprint, d.notice.kind, d.created_at)
        self.submit(rows)

    async def stop(self) -> None:
        self._running = False
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for lane in self._lanes.values():
            lane.task = None

    def dead_lanes(self) -> list[str]:
        """Channels whose worker has ended while the dispatcher runs (a bug: the
        watchdog stops pinging)."""
        if not self._running:
            return []
        return [n for n, lane in self._lanes.items() if lane.task is None or lane.task.done()]

    def _start_lane(self, name: str) -> None:
        lane = self._lanes[name]
        lane.task = asyncio.ensure_future(self._work(name, lane))

    # -- intake --------------------------------------------------------------

    def hold_storms(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Before they are written: count them, and mark those a storm holds."""
        out = []
        for d in deliveries:
            if not self._foldable(d):
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

    # -- the worker ----------------------------------------------------------

    async def _work(self, name: str, lane: _Lane) -> None:
        while True:
            try:
                wait = await self._step(name, lane)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store error: keep the rows, try again shortly
                log.error("notify_worker_error", channel=name, error=type(exc).__name__)
                wait = 1.0
            if wait is not None and wait <= 0:
                continue
            lane.wake.clear()
            lane.parked = True
            try:
                await sleep_or_wake(self._clock, lane.wake, wait)
            finally:
                lane.parked = False

    async def _step(self, name: str, lane: _Lane) -> float | None:
        """Send one delivery (or one digest) if one is due; returns how long to wait."""
        if lane.unrecorded:  # a store error here: _work waits a second and comes back
            await self._store.update_deliveries(lane.unrecorded)
            lane.unrecorded = []
        if not lane.items:
            return None
        now = self._clock.now().timestamp()
        group, wait = _due(lane, now)
        if not group:
            return wait
        wait = lane.bucket.wait(self._clock.monotonic(), EARLY)
        if wait > 0:
            return wait
        if self.gate is not None:
            claimed = await self._claimed(lane, group)
            if claimed is None:
                return PAUSED_RECHECK
            if not claimed:
                return 0.0
            group = claimed
        self._busy += 1
        try:
            await self._attempt(name, lane, group, now)
        finally:
            self._busy -= 1
        return 0.0

    async def _claimed(self, lane: _Lane, group: list[Delivery]) -> list[Delivery] | None:
        """The rows of ``group`` this member now holds the claim of (the rest leave its
        queue: another member sends them); None while it may not send at all."""
        assert self.gate is not None
        if not self.gate.may_send():
            if not self._paused:
                self._paused = True
                log.error("notify_paused", reason="cluster lease not held", open=self.open_count())
            return None
        if self._paused:
            self._paused = False
            log.info("notify_resumed", open=self.open_count())
        ids = await self.gate.claim(group)
        others = [d for d in group if d.id not in ids]
        if others:
            self._remove(lane, others)
        return [d for d in group if d.id in ids]

    async def _attempt(self, name: str, lane: _Lane, group: list[Delivery], now: float) -> None:
        head = group[0]
        notice = head.notice if len(group) == 1 else fold([d.notice for d in group], now)
        thread = self.threads.get(head.thread_key) if notice.kind != "digest" else None
        try:
            sent = await lane.notifier.send(notice, head.address, thread)
        except DeliveryError as exc:
            await self._failed(name, lane, group, exc)
            return
        except Exception as exc:  # a notifier bug must not stop the channel
            await self._failed(
                name,
                lane,
                group,
                DeliveryError(retry=True, reason="internal", detail=type(exc).__name__),
            )
            return
        done = self._clock.now().timestamp()
        single = notice is head.notice
        finals = [
            d.with_(
                state="sent" if single else "merged",
                attempts=d.attempts + 1,
                sent_at=done,
                error=None,
                # a digest's message is about many alerts: no alert's thread (on restart too)
                ref=sent.ref if single else None,
            )
            for d in group
        ]
        # Sent: never again from this process, whatever the store says next.
        self._remove(lane, group)
        try:
            await self._store.update_deliveries(finals)
        except Exception as exc:  # recorded by the worker before anything else is sent
            lane.unrecorded += finals
            log.error("notify_record_failed", channel=name, error=type(exc).__name__)
        latency = self._metrics.notification_latency.labels(lane.kind)
        for final in finals:
            latency.observe(max(0.0, done - final.created_at))
            for hook in self.on_sent:
                maybe = hook(final)
                if maybe is not None:
                    await maybe
        if sent.ref is not None and head.fingerprint and single:
            self.threads.setdefault(head.thread_key, sent.ref)
        self._metrics.notifications.labels(name, lane.kind, "sent").inc()
        lane.failing_since = None
        if name in self.broken:
            del self.broken[name]
            self._metrics.channel_broken.labels(name, lane.kind).set(0)
            log.info("notify_channel_recovered", channel=name)
        log.info(
            "notification_sent",
            channel=name,
            kind=notice.kind,
            fingerprint=head.fingerprint or None,
            merged=len(group) if len(group) > 1 else None,
        )

    def _note_failing(self, name: str, lane: _Lane, reason: str, now: float) -> None:
        """A channel that has failed with retryable errors only, for DOWN_AFTER and no
        send since, is shown broken too: a provider outage is as visible as a bad token."""
        if lane.failing_since is None:
            lane.failing_since = now
        if name not in self.broken and now - lane.failing_since >= DOWN_AFTER:
            self.broken[name] = f"failing since {iso(lane.failing_since)}: {reason}"
            self._metrics.channel_broken.labels(name, lane.kind).set(1)
            log.error("notify_channel_down", channel=name, reason=reason)

    async def _failed(
        self, name: str, lane: _Lane, group: list[Delivery], exc: DeliveryError
    ) -> None:
        now = self._clock.now().timestamp()
        for d in group:  # a digest fails as a whole; rare enough to record row by row
            attempts = d.attempts + 1
            if exc.retry:
                delay = retry_delay(
                    attempts,
                    exc.retry_after,
                    self._options.retry_initial,
                    self._options.retry_max,
                    self._jitter(),
                )
                self._note_failing(name, lane, exc.reason, now)
                if now + delay - d.created_at <= self._options.max_age:
                    updated = d.with_(attempts=attempts, next_at=now + delay, error=exc.reason)
                    await self._store.update_deliveries([updated])
                    self._replace(lane, d, updated)
                    self._metrics.notifications.labels(name, lane.kind, "retry").inc()
                    log.warning(
                        "notify_retry_scheduled",
                        channel=name,
                        reason=exc.reason,
                        detail=exc.detail,
                        attempt=attempts,
                        delay=round(delay, 3),
                    )
                    continue
                final = d.with_(state="dead", attempts=attempts, error=exc.reason)
                await self._store.update_deliveries([final])
                self._remove(lane, [d])
                self._metrics.notifications.labels(name, lane.kind, "dead").inc()
                self._metrics.dead_letters.labels(name).inc()
                log.error("notify_dead_letter", channel=name, reason=exc.reason, attempts=attempts)
                continue
            final = d.with_(state="failed", attempts=attempts, error=exc.reason)
            await self._store.update_deliveries([final])
            self._remove(lane, [d])
            self._metrics.notifications.labels(name, lane.kind, "failed").inc()
            self.broken[name] = exc.reason
            self._metrics.channel_broken.labels(name, lane.kind).set(1)
            log.error(
                "notify_failed_permanently",
                channel=name,
                reason=exc.reason,
                detail=exc.detail,
                target=d.target,
                falls_through_to=d.fallback[0][0] if d.fallback else None,
            )
            await self._fall_through(d, now)

    async def unanswered(self, d: Delivery, reason: str) -> None:
        """A sent delivery the provider later reports as not delivered (a phone call
        nobody answered): ``failed`` with ``reason``, and the contact's next method
        gets a delivery. The channel is not broken: the person did not answer."""
        now = self._clock.now().timestamp()
        await self._store.update_deliveries([d.with_(state="failed", error=reason)])
        self._metrics.notifications.labels(d.channel, self._kind(d.channel), "unanswered").inc()
        log.warning(
            "notify_unanswered",
            channel=d.channel,
            reason=reason,
            target=d.target,
            falls_through_to=d.fallback[0][0] if d.fallback else None,
        )
        await self._fall_through(d, now)

    def _kind(self, channel: str) -> str:
        lane = self._lanes.get(channel)
        return lane.kind if lane is not None else "unknown"

    async def _fall_through(self, d: Delivery, now: float) -> None:
        if not d.fallback:
            return
        (channel, address), rest = d.fallback[0], d.fallback[1:]
        nxt = Delivery(
            dedup=f"{d.dedup}|{channel}",
            fingerprint=d.fingerprint,
            target=d.target,
            channel=channel,
            address=address,
            notice=d.notice,
            next_at=now,
            created_at=now,
            fallback=rest,
        )
        self.submit(await self._store.commit_notifications([], [nxt], now))

    def _remove(self, lane: _Lane, done: list[Delivery]) -> None:
        keys = {d.dedup for d in done}
        lane.items = [x for x in lane.items if x.dedup not in keys]
        self._metrics.outbox_open.set(self.open_count())

    def _replace(self, lane: _Lane, old: Delivery, new: Delivery) -> None:
        lane.items = [new if x.dedup == old.dedup else x for x in lane.items]


def _due(lane: _Lane, now: float) -> tuple[list[Delivery], float | None]:
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
