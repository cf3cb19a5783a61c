"""What goes after a call or a failure: the methods waiting for a call
(:mod:`sentinel.notify.waiting` decides) released, moved or skipped in the lanes,
and the contact's next method (``fallback``) when nothing waited."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from sentinel.notify.lanes import Lane, Lanes
from sentinel.notify.outbox import Delivery
from sentinel.notify.waiting import Call, Verdict, after_call, waiting

log = structlog.get_logger("sentinel.notify")
_Waiting = list[tuple[Lane, Delivery]]


class NextMethod(Lanes):
    """The dispatcher's bookkeeping of what follows a call or a failure."""

    async def unanswered(self, d: Delivery, reason: str, then: Sequence[Delivery] = ()) -> None:
        """A sent delivery the provider later reports as not delivered (a phone call
        nobody answered): ``failed`` with ``reason``, and the methods waiting for it
        (``then``, the rows that ever waited for it) go now, else the contact's next
        method gets a delivery. The channel is not broken: the person did not answer."""
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
        if not await self._release(d.dedup, reason, now) and not then:
            await self._fall_through(d, now)

    # -- methods waiting for a call (sentinel.notify.waiting) ----------------

    def _waiting(self, call: str | None = None, firing: str | None = None) -> _Waiting:
        """Waiting rows: those waiting for the row ``call``, or about ``firing``."""
        return [
            (lane, d)
            for lane in self._lanes.values()
            for d in waiting(lane.items, call=call, firing=firing)
        ]

    def _apply(self, found: _Waiting, verdict: Verdict, now: float) -> list[Delivery]:
        """Act on ``after_call``'s verdict in the lanes; returns the rows to write."""
        out: list[Delivery] = []
        for lane, d in found:
            if verdict.action == "drop":
                out.append(d.with_(state="skipped"))
                self._remove(lane, [d])
                continue
            if verdict.action == "send":
                new = d.with_(state="pending", next_at=now)
            else:
                new = d.with_(next_at=d.next_at if verdict.until is None else verdict.until)
            self._replace(lane, d, new)
            lane.wake.set()
            out.append(new)
        return out

    def _await_call(self, call: str, placed_at: float, window: float) -> list[Delivery]:
        """The call ``call`` was placed: its waiting methods go at the end of its window
        unless its outcome comes first. Returns them, to be written with the call's row."""
        verdict = after_call(Call(placed_at=placed_at), False, placed_at, window)
        return self._apply(self._waiting(call=call), verdict, placed_at)

    async def _release(self, call: str, reason: str, now: float) -> bool:
        """The call ``call`` failed (``reason``): what waits for it goes now. False when
        nothing waited."""
        found = self._waiting(call=call)
        if not found:
            return False
        verdict = after_call(Call(failed=reason), False, now, 0.0)
        await self._store.update_deliveries(self._apply(found, verdict, now))
        log.info("notify_call_failed_next", reason=reason, released=len(found))
        return True

    async def drop_waiting(self, firing: str) -> None:
        """The alert of this firing was acknowledged or resolved: what waits for a call
        about it is never sent (``skipped``)."""
        found = self._waiting(firing=firing)
        if found:
            now = self._clock.now().timestamp()
            await self._store.update_deliveries(
                self._apply(found, after_call(None, True, now, 0), now)
            )
            log.info("notify_waiting_skipped", skipped=len(found))

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
