"""The dispatcher's idle signal (``Dispatcher.settled()``): what ``sentinel simulate`` and
tests on a fake clock await before moving time. It must not fire while store I/O the
dispatcher started is in flight. The store is real SQLite whose chosen calls wait for
the test to let them go (slow I/O, held still); the provider seam is scripted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from sentinel.clock import FakeClock
from sentinel.config.models import Notifications
from sentinel.metrics import Metrics
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.outbox import Delivery
from sentinel.probes.results import LatestResults
from sentinel.store.sqlite import SqliteStore
from tests.notify.test_dispatcher import Scripted, delivery, make, put

BOUND = 10.0  # real seconds: a safety net, never reached when the signal works
TURNS = 50  # loop turns given to a wrong answer to show


class HeldStore(SqliteStore):
    """The real store; the calls named in ``holding`` wait until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.holding: set[str] = set()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def _hold(self, call: str) -> None:
        if call in self.holding:
            self.entered.set()
            await self.release.wait()

    async def update_deliveries(self, rows: Sequence[Delivery]) -> None:
        await self._hold("update_deliveries")
        await super().update_deliveries(rows)

    async def open_deliveries(self) -> list[Delivery]:
        await self._hold("open_deliveries")
        return await super().open_deliveries()


async def turns() -> None:
    for _ in range(TURNS):
        await asyncio.sleep(0)


async def test_settled_fires_only_after_the_sent_rows_store_write() -> None:
    """A notice sent while its outcome's write is in flight: not settled (nor idle)
    until the write completes; then settled, and the row is recorded as sent."""
    store = HeldStore()
    await store.open()
    clock = FakeClock()
    lane = Scripted(clock)
    d, _ = await make(store, clock, {"a": lane})
    try:
        await asyncio.wait_for(d.settled(), BOUND)
        store.holding.add("update_deliveries")
        await put(d, store, clock, [delivery(clock, 1)])
        await asyncio.wait_for(store.entered.wait(), BOUND)
        assert len(lane.sent) == 1  # the provider has it; the store does not yet
        waiter = asyncio.ensure_future(d.settled())
        await turns()
        assert not waiter.done()
        assert not d.idle()
        store.release.set()
        await asyncio.wait_for(waiter, BOUND)
        assert d.idle()
        assert await store.open_deliveries() == []
    finally:
        await d.stop()
        await store.close()


async def test_not_settled_while_start_reads_the_open_rows() -> None:
    """start() reads the rows an earlier run left open while the workers already wait
    on their empty lanes: not idle until they are read, queued and sent."""
    store = HeldStore()
    await store.open()
    clock = FakeClock()
    lane = Scripted(clock)
    await store.commit_notifications([], [delivery(clock, 1)], clock.now().timestamp())
    options = Notifications.model_validate({})
    metrics = Metrics(CollectorRegistry(), LatestResults(), "test")
    d = Dispatcher(store, clock, metrics, options, jitter=lambda: 0.5)
    d.configure({"a": ("webhook", lane)}, options)
    store.holding.add("open_deliveries")
    starting = asyncio.ensure_future(d.start())
    try:
        await asyncio.wait_for(store.entered.wait(), BOUND)
        await turns()  # the worker has parked on its empty lane
        assert not d.idle()
        waiter = asyncio.ensure_future(d.settled())
        await turns()
        assert not waiter.done()
        store.release.set()
        await asyncio.wait_for(starting, BOUND)
        await asyncio.wait_for(waiter, BOUND)
        assert [n.alert.check for _, n, _, _ in lane.sent if n.alert] == ["api-1"]
        assert await store.open_deliveries() == []
    finally:
        await d.stop()
        await store.close()
