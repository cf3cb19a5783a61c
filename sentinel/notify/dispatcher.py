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

A contact's method listed after ``voice`` waits (a ``waiting`` row) for the call's
outcome (:mod:`sentinel.notify.waiting`): released when the call fails for good, is
not answered, or its window passes; skipped when the alert is acknowledged first.
A call that has waiting methods releases them instead of falling through.

The dispatcher is its lifecycle (channels configured, workers started and stopped)
over :mod:`~sentinel.notify.lanes` (a channel's queue, what is due next),
:mod:`~sentinel.notify.worker` (a send and its outcome),
:mod:`~sentinel.notify.next_method` (waiting methods, fall-through) and
:mod:`~sentinel.notify.claiming` (several replicas).

In a storm (many distinct alerts to one address, :mod:`sentinel.notify.storm`)
the address's new rows are written ``held``; everything one address holds goes
out as one digest once its oldest row has waited ``notifications.storm.spacing``.
Held rows are rows like the others: a restart sends them. Delivery is at least
once: a crash between a provider accepting and the store recording it sends
that notice again on restart.

``idle()`` says every worker waits on the clock (or for new rows) with no send and no
store I/O in flight; ``await settled()`` returns once it is, woken by the workers as
they park (``sentinel simulate`` and tests on a fake clock await it before moving time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from sentinel.config.models import Notifications
from sentinel.notify.base import Notifier
from sentinel.notify.lanes import Lane
from sentinel.notify.worker import Worker


class Dispatcher(Worker):
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
                    self._stirred()
                else:
                    lane.kind, lane.notifier = wanted
                    lane.pace()
        for name, (kind, notifier) in notifiers.items():
            if name not in self._lanes:
                self._lanes[name] = Lane(notifier, kind)
                if self._running:
                    self._start_lane(name)
        orphans, self._orphans = self._orphans, []
        self.submit(orphans)
        return retired

    async def start(self) -> None:
        self._starting = True  # not idle while the store is read
        try:
            await self._start()
        finally:
            self._starting = False
            self._stirred()

    async def _start(self) -> None:
        self.threads = await self._store.thread_refs()
        self._running = True
        for name in self._lanes:
            self._start_lane(name)
        rows = await self._store.open_deliveries()
        # The gate's memory, rebuilt from what is still open: alerts delivered before
        # the restart are forgotten, so a restart can only page sooner, never later.
        for d in sorted(rows, key=lambda d: d.created_at):
            if self._foldable(d) and d.state != "waiting":
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
        self._stirred()

    def dead_lanes(self) -> list[str]:
        """Channels whose worker has ended while the dispatcher runs (a bug: the
        watchdog stops pinging)."""
        if not self._running:
            return []
        return [n for n, lane in self._lanes.items() if lane.task is None or lane.task.done()]

    def _start_lane(self, name: str) -> None:
        lane = self._lanes[name]
        lane.task = asyncio.ensure_future(self._work(name, lane))
        lane.task.add_done_callback(lambda _: self._stirred())
