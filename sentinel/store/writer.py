"""The history writer: results go into a queue on the hot path and reach the
store in batches, one transaction each, off the hot path.

``submit`` never blocks and never does I/O. A failed write keeps its rows
for the next flush; only when more than ``max_pending`` results wait are the
oldest dropped, and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from sentinel.clock import Clock
from sentinel.results import Result
from sentinel.store import Store


class ResultWriter:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_pending: int = 100_000,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._on_error = on_error
        self._queue: deque[Result] = deque()
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.failures = 0
        self.written = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def submit(self, result: Result) -> None:
        queue = self._queue
        queue.append(result)
        if len(queue) > self._max_pending:
            queue.popleft()
            self.dropped += 1
        if len(queue) >= self._batch_size:
            self._full.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the background loop and write everything still pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            sleeper = asyncio.ensure_future(self._clock.sleep(self._flush_interval))
            waker = asyncio.ensure_future(self._full.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
            self._full.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write every pending result now, in batches; on failure keep the rest queued."""
        async with self._lock:
            queue = self._queue
            while queue:
                n = min(self._batch_size, len(queue))
                batch = [queue.popleft() for _ in range(n)]
                try:
                    await self._store.add_results(batch)
                except Exception as exc:
                    queue.extendleft(reversed(batch))
                    self.failures += 1
                    if self._on_error is not None:
                        self._on_error(exc)
                    return
                self.written += n
