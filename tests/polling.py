"""The one wait of tests that run real I/O: ask until the expected state shows."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

POLL = 0.05  # seconds between two asks


async def eventually(probe: Callable[[], bool | Awaitable[bool]], seconds: float = 15.0) -> None:
    """Ask ``probe`` (a function, or an async one) until it answers true; bounded in
    time, it raises AssertionError when ``seconds`` pass first."""
    for _ in range(int(seconds / POLL)):
        answer = probe()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return
        await asyncio.sleep(POLL)
    raise AssertionError("condition not reached in time")
