"""A channel's worker: takes the lane's oldest due delivery (or digest), waits for
the provider's pace, sends, and records the outcome (sent, retry, dead, failed)
before it takes the next."""

from __future__ import annotations

import asyncio

import structlog

from sentinel.clock import iso, sleep_or_wake
from sentinel.notify.base import DeliveryError
from sentinel.notify.claiming import Claiming
from sentinel.notify.lanes import EARLY, Lane, due
from sentinel.notify.next_method import NextMethod
from sentinel.notify.outbox import Delivery
from sentinel.notify.retry import retry_delay
from sentinel.notify.storm import fold
from sentinel.notify.waiting import wake

log = structlog.get_logger("sentinel.notify")
DOWN_AFTER = 300.0  # retryable failures only, this long: the channel is shown broken
PAUSED_RECHECK = 0.5  # a member that may not send looks again this often


class Worker(Claiming, NextMethod):
    """The per-channel workers of the dispatcher."""

    async def _work(self, name: str, lane: Lane) -> None:
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
            lane.until = None if wait is None else self._clock.monotonic() + wait
            self._stirred()
            try:
                await sleep_or_wake(self._clock, lane.wake, wait)
            finally:
                lane.parked = False
                lane.until = None

    async def _step(self, name: str, lane: Lane) -> float | None:
        """Send one delivery (or one digest) if one is due; returns how long to wait."""
        if lane.unrecorded:  # a store error here: _work waits a second and comes back
            await self._store.update_deliveries(lane.unrecorded)
            lane.unrecorded = []
        if not lane.items:
            return None
        now = self._clock.now().timestamp()
        later = wake(lane.items, now, EARLY)
        group, wait = due(lane, now)
        if not group:
            return later if wait is None else wait if later is None else min(wait, later)
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

    async def _attempt(self, name: str, lane: Lane, group: list[Delivery], now: float) -> None:
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
        window = getattr(lane.notifier, "answer_window", None)
        placed = self._await_call(head.dedup, done, window) if single and window else []
        try:
            await self._store.update_deliveries(finals + placed)
        except Exception as exc:  # recorded by the worker before anything else is sent
            lane.unrecorded += finals + placed
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

    def _note_failing(self, name: str, lane: Lane, reason: str, now: float) -> None:
        """A channel that has failed with retryable errors only, for DOWN_AFTER and no
        send since, is shown broken too: a provider outage is as visible as a bad token."""
        if lane.failing_since is None:
            lane.failing_since = now
        if name not in self.broken and now - lane.failing_since >= DOWN_AFTER:
            self.broken[name] = f"failing since {iso(lane.failing_since)}: {reason}"
            self._metrics.channel_broken.labels(name, lane.kind).set(1)
            log.error("notify_channel_down", channel=name, reason=reason)

    async def _failed(
        self, name: str, lane: Lane, group: list[Delivery], exc: DeliveryError
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
                await self._release(d.dedup, "dead", now)
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
            if not await self._release(d.dedup, exc.reason, now):
                await self._fall_through(d, now)
