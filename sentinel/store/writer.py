"""The history writer: results go into a queue on the hot path and reach the
store in batches, one transaction each, off the hot path.

``submit`` never blocks and never does I/O. The background task writes when a
batch is full or ``flush_interval`` has passed on the clock. A failed write
keeps its rows for the next attempt, one ``flush_interval`` later (a full queue
does not make a failing store be retried on every submit); only when more than
``max_pending`` results wait are the oldest dropped, and counted.

Nothing is logged here: ``failures``, ``dropped``, ``written`` and ``pending``
are read by metrics, and ``on_error`` hears of every failed write. ``on_error``
must not raise; if it does, the error comes out of :meth:`flush` (and out of
:meth:`stop` for the background task).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from sentinel.clock import Clock
from sentinel.probes.results import Result
from sentinel.store import ResultSink


class ResultWriter:
    def __init__(
        self,
        store: ResultSink,
        clock: Clock,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_pending: int = 100_000,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if batch_size < 1 or max_pending < 1:
            raise ValueError("batch_size and max_pending must be at least 1")
        self._store = store
        self._clock = clock
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._on_error = on_error
        self._queue: deque[Result] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failing = False
        self.in_flight = 0
        """Results in the batch being written right now."""
        self.dropped = 0
        """Results thrown away, oldest first, because more than ``max_pending`` waited."""
        self.failures = 0
        """Store writes that failed (their rows were kept)."""
        self.written = 0
        """Results the store has accepted."""

    @property
    def pending(self) -> int:
        """Results not yet in the store: queued plus the batch being written."""
        return len(self._queue) + self.in_flight

    @property
    def failing(self) -> bool:
        """The last write failed (its rows wait for the next attempt)."""
        return self._failing

    def submit(self, result: Result) -> None:
        """Queue one result; O(1), no I/O, never blocks."""
        queue = self._queue
        queue.append(result)
        if len(queue) > self._max_pending:
            queue.popleft()
            self.dropped += 1
        if len(queue) >= self._batch_size and not self._failing:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="sentinel-result-writer")

    async def stop(self) -> None:
        """Stop the background task and write everything still pending.

        A write in progress is let finish rather than cancelled; a failing store
        leaves the rest in ``pending`` (and reported through ``on_error``).
        """
        task, self._task = self._task, None
        if task is not None and not task.cancelled():
            self._stopping = True
            self._wake.set()
            await task
        await self.flush()

    async def _run(self) -> None:
        clock, wake = self._clock, self._wake
        while not self._stopping:
            sleeper = asyncio.ensure_future(clock.sleep(self._flush_interval))
            waiter = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait((sleeper, waiter), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waiter.cancel()
            wake.clear()
            if self._stopping:
                return
            await self.flush()
            if self._failing:
                # Retry on the clock, not at once: a full queue set the event meanwhile.
                wake.clear()

    async def flush(self) -> None:
        """Write what is pending now, in batches; on a failure keep the rest queued.

        Waits for a write already in progress first. Results submitted while this
        runs are left for the next flush.
        """
        async with self._lock:
            queue = self._queue
            todo = len(queue)
            while todo > 0 and queue:
                n = min(self._batch_size, todo, len(queue))
                batch = [queue.popleft() for _ in range(n)]
                self.in_flight = n
                try:
                    await self._store.add_results(batch)
                except BaseException as exc:
                    self._requeue(batch)
                    if not isinstance(exc, Exception):
                        raise  # cancelled: the rows are back in the queue
                    self.failures += 1
                    self._failing = True
                    if self._on_error is not None:
                        self._on_error(exc)
                    return
                finally:
                    self.in_flight = 0
                self.written += n
                todo -= n
            self._failing = False

    def _requeue(self, batch: list[Result]) -> None:
        """Put a batch back at the head, still dropping the oldest past ``max_pending``."""
        queue = self._queue
        queue.extendleft(reversed(batch))
        excess = len(queue) - self._max_pending
        if excess > 0:
            for _ in range(excess):
                queue.popleft()
            self.dropped += excess
