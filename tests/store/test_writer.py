"""The history writer: batches, the flush interval on a fake clock, retries, overflow."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from sentinel.clock import FakeClock
from sentinel.probes.heartbeats import Beat
from sentinel.probes.results import Result
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance
from sentinel.store.sqlite import SqliteStore
from sentinel.store.writer import ResultWriter
from tests.store.test_sqlite import result


class FlakyStore:
    """A Store that fails its first ``failures`` writes, then keeps what it gets."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.rows: list[Result] = []
        self.batches: list[int] = []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        return True

    async def add_results(self, results: Sequence[Result]) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise OSError("disk full")
        self.rows.extend(results)
        self.batches.append(len(results))

    async def recent_results(self, check: str, limit: int = 100) -> list[Result]:
        return [r for r in reversed(self.rows) if r.check == check][:limit]

    async def prune_results(self, older_than: datetime) -> int:
        return 0

    async def save_heartbeat(self, name: str, beat: Beat) -> None: ...

    async def load_heartbeats(self) -> dict[str, Beat]:
        return {}

    async def save_alert(self, alert: Instance) -> None: ...

    async def delete_alert(self, fingerprint: str) -> None: ...

    async def save_alerts(self, alerts: Sequence[Instance], deleted: Sequence[str]) -> None: ...

    async def load_alerts(self) -> list[Instance]:
        return []

    async def save_silence(self, silence: Silence) -> None: ...

    async def load_silences(self) -> list[Silence]:
        return []


class StuckStore(FlakyStore):
    """A Store whose writes wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def add_results(self, results: Sequence[Result]) -> None:
        self.entered.set()
        await self.release.wait()
        await super().add_results(results)


def minutes(rows: Sequence[Result]) -> list[datetime]:
    return [r.started_at for r in rows]


async def test_full_batches_are_written_without_waiting() -> None:
    """A full batch wakes the writer at once: 1,200 results go out as 500, 500 and 200."""
    store = FlakyStore()
    clock = FakeClock()
    writer = ResultWriter(store, clock, batch_size=500, flush_interval=60)
    writer.start()
    for i in range(1200):
        writer.submit(result("a", i))
    assert store.calls == 0  # submit itself never writes
    await clock.advance(0)  # no clock time passes: only the wake-up on a full batch
    assert store.batches == [500, 500, 200]
    assert writer.written == 1200
    assert writer.pending == 0
    await writer.stop()


async def test_a_part_batch_waits_for_the_interval() -> None:
    """Fewer results than a batch stay queued until flush_interval passes on the clock."""
    store = FlakyStore()
    clock = FakeClock()
    writer = ResultWriter(store, clock, batch_size=500, flush_interval=1.0)
    writer.start()
    for i in range(499):
        writer.submit(result("a", i))
    await clock.advance(0.99)
    assert store.batches == []
    await clock.advance(0.01)
    assert store.batches == [499]
    await writer.stop()


async def test_interval_flush_on_the_fake_clock(tmp_path: Path) -> None:
    """A few results reach the real SQLite store once the flush interval passes."""
    clock = FakeClock()
    store = SqliteStore(str(tmp_path / "s.db"))
    await store.open()
    writer = ResultWriter(store, clock, flush_interval=1.0)
    writer.start()
    try:
        for i in range(3):
            writer.submit(result("a", i))
        await clock.advance(0.5)
        assert (writer.pending, writer.in_flight) == (3, 0)
        await clock.advance(0.5)
        # Nothing is queued any more: the background task took all three, and its write
        # may still be on SQLite's thread. flush() waits for it (it holds the lock).
        assert writer.pending == writer.in_flight
        await writer.flush()
        assert (writer.written, writer.pending) == (3, 0)
        assert len(await store.recent_results("a")) == 3
    finally:
        await writer.stop()
        await store.close()


async def test_stop_flushes_everything() -> None:
    """stop() writes what is pending even before the interval."""
    store = FlakyStore()
    writer = ResultWriter(store, FakeClock(), flush_interval=60)
    writer.start()
    writer.submit(result("a", 1))
    await writer.stop()
    assert len(store.rows) == 1


async def test_stop_during_a_write_loses_nothing() -> None:
    """stop() lets a write in progress finish instead of cancelling it, then writes the rest."""
    clock = FakeClock()
    store = StuckStore()
    writer = ResultWriter(store, clock, batch_size=10, flush_interval=60)
    writer.start()
    for i in range(25):
        writer.submit(result("a", i))
    await clock.advance(0)
    assert writer.in_flight == 10
    writer.submit(result("a", 25))
    stopping = asyncio.create_task(writer.stop())
    await clock.advance(0)
    assert not stopping.done()
    store.release.set()
    await stopping
    assert (writer.pending, writer.written) == (0, 26)
    assert minutes(store.rows) == minutes([result("a", i) for i in range(26)])


async def test_failed_write_keeps_rows_for_the_next_flush() -> None:
    """A failing store loses nothing: rows stay queued, the failure is reported, then written."""
    store = FlakyStore(failures=2)
    errors: list[BaseException] = []
    writer = ResultWriter(store, FakeClock(), on_error=errors.append)
    for i in range(5):
        writer.submit(result("a", i))
    await writer.flush()
    await writer.flush()
    assert writer.pending == 5
    assert writer.failures == 2
    assert [type(e) for e in errors] == [OSError, OSError]
    await writer.flush()
    assert writer.pending == 0
    assert minutes(store.rows) == minutes([result("a", i) for i in range(5)])


async def test_a_failing_store_is_retried_on_the_clock_not_on_every_submit() -> None:
    """After a failed write the writer waits flush_interval, however full the queue gets."""
    store = FlakyStore(failures=1)
    clock = FakeClock()
    writer = ResultWriter(store, clock, batch_size=2, flush_interval=1.0)
    writer.start()
    writer.submit(result("a", 0))
    writer.submit(result("a", 1))
    await clock.advance(0)
    assert (store.calls, writer.failures) == (1, 1)
    for i in range(2, 12):
        writer.submit(result("a", i))
    await clock.advance(0.9)
    assert store.calls == 1
    await clock.advance(0.1)
    assert writer.pending == 0
    assert minutes(store.rows) == minutes([result("a", i) for i in range(12)])
    # healthy again: a full batch is written at once
    writer.submit(result("a", 12))
    writer.submit(result("a", 13))
    await clock.advance(0)
    assert writer.written == 14
    await writer.stop()


async def test_overflow_drops_the_oldest_and_counts() -> None:
    """Past max_pending the oldest results go first, and each drop is counted."""
    store = FlakyStore()
    writer = ResultWriter(store, FakeClock(), max_pending=3, batch_size=100)
    for i in range(5):
        writer.submit(result("a", i))
    assert writer.dropped == 2
    assert writer.pending == 3
    await writer.flush()
    assert minutes(store.rows) == minutes([result("a", i) for i in (2, 3, 4)])


async def test_rows_put_back_after_a_failure_still_respect_max_pending() -> None:
    """Results submitted during a failing write push the oldest out when the batch comes back."""
    store = StuckStore()
    store.failures = 1
    writer = ResultWriter(store, FakeClock(), max_pending=4, batch_size=100)
    for i in range(3):
        writer.submit(result("a", i))
    flushing = asyncio.create_task(writer.flush())
    await store.entered.wait()
    for i in range(3, 6):
        writer.submit(result("a", i))
    assert writer.pending == 6  # 3 in flight, 3 queued: under max_pending each
    store.release.set()
    await flushing
    assert (writer.pending, writer.dropped, writer.failures) == (4, 2, 1)
    await writer.flush()
    assert minutes(store.rows) == minutes([result("a", i) for i in (2, 3, 4, 5)])


async def test_a_cancelled_flush_puts_its_batch_back() -> None:
    """Cancelling a flush mid-write (a shutdown timeout) returns the rows to the queue."""
    store = StuckStore()
    writer = ResultWriter(store, FakeClock())
    for i in range(3):
        writer.submit(result("a", i))
    flushing = asyncio.create_task(writer.flush())
    await store.entered.wait()
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert (writer.pending, writer.in_flight, writer.failures) == (3, 0, 0)
    store.release.set()
    await writer.flush()
    assert minutes(store.rows) == minutes([result("a", i) for i in range(3)])
