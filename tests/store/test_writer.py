"""The history writer: batches, the flush interval on a fake clock, retries, overflow."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sentinel.clock import FakeClock
from sentinel.results import Result
from sentinel.store.sqlite import SqliteStore
from sentinel.store.writer import ResultWriter
from tests.store.test_sqlite import result


class FlakyStore:
    """A Store that fails its first ``failures`` writes, then keeps what it gets."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: list[Result] = []
        self.batches: list[int] = []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        return True

    async def add_results(self, results: Sequence[Result]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("disk full")
        self.rows.extend(results)
        self.batches.append(len(results))

    async def recent_results(self, check: str, limit: int = 100) -> list[Result]:
        return [r for r in reversed(self.rows) if r.check == check][:limit]

    async def prune_results(self, older_than: datetime) -> int:
        return 0


async def test_full_batches_are_written_without_waiting() -> None:
    """A full batch wakes the writer at once: 1,200 results go out as 500, 500 and 200."""
    store = FlakyStore(0)
    clock = FakeClock()
    writer = ResultWriter(store, clock, batch_size=500, flush_interval=60)
    writer.start()
    for i in range(1200):
        writer.submit(result("a", i))
    await clock.advance(0)  # no clock time passes: only the wake-up on a full batch
    assert store.batches == [500, 500, 200]
    await writer.stop()


async def test_interval_flush_on_the_fake_clock(tmp_path: Path) -> None:
    """A few results reach the real SQLite store once the flush interval passes."""
    clock = FakeClock()
    store = SqliteStore(str(tmp_path / "s.db"))
    await store.open()
    writer = ResultWriter(store, clock, flush_interval=1.0)
    writer.start()
    for i in range(3):
        writer.submit(result("a", i))
    await clock.advance(0.5)
    assert writer.pending == 3
    await clock.advance(0.6)
    for _ in range(50):  # the write runs on aiosqlite's thread: wait for it, not for time
        if writer.pending == 0 and writer.written == 3:
            break
        await clock.advance(0)
        await asyncio.sleep(0.01)
    assert len(await store.recent_results("a")) == 3
    await writer.stop()
    await store.close()


async def test_stop_flushes_everything() -> None:
    """stop() writes what is pending even before the interval."""
    store = FlakyStore(0)
    writer = ResultWriter(store, FakeClock(), flush_interval=60)
    writer.start()
    writer.submit(result("a", 1))
    await writer.stop()
    assert len(store.rows) == 1


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
    assert [r.started_at for r in store.rows] == [result("a", i).started_at for i in range(5)]


async def test_overflow_drops_the_oldest_and_counts() -> None:
    """Past max_pending the oldest results go first, and each drop is counted."""
    store = FlakyStore(0)
    writer = ResultWriter(store, FakeClock(), max_pending=3, batch_size=100)
    for i in range(5):
        writer.submit(result("a", i))
    assert writer.dropped == 2
    await writer.flush()
    assert [r.started_at for r in store.rows] == [result("a", i).started_at for i in (2, 3, 4)]
