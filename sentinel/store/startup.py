"""Opening a store that may not answer yet: retry with backoff while the failure is
retryable, give up at once when it is not (see :class:`StoreError`)."""

from __future__ import annotations

from collections.abc import Callable

from sentinel.clock import Clock
from sentinel.store import Store, StoreError


async def open_when_ready(
    store: Store,
    clock: Clock,
    on_wait: Callable[[StoreError, float], None],
    *,
    first: float = 1.0,
    most: float = 30.0,
) -> None:
    """Open ``store``; while it fails with a retryable StoreError, call
    ``on_wait(error, seconds)`` (log it, keep /ready false) and wait, doubling the
    wait up to ``most``. A StoreError that is not retryable (wrong credentials, no
    such database, a newer schema, a moved store) is raised at once."""
    delay = first
    while True:
        try:
            await store.open()
            return
        except StoreError as exc:
            if not exc.retryable:
                raise
            on_wait(exc, delay)
        await clock.sleep(delay)
        delay = min(delay * 2, most)
