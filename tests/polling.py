"""The waits of tests that run real I/O: ask until the expected state shows, or until a
dispatcher has done what is due."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Protocol

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


class _Idle(Protocol):
    def idle(self) -> bool: ...


async def settle(dispatcher: _Idle, seconds: float = 30.0) -> None:
    """Wait (real time, bounded) until a dispatcher on a fake clock is idle: the real
    HTTP and store I/O of what is due now has finished."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not dispatcher.idle():
        if loop.time() > end:
            raise AssertionError("dispatcher did not settle")
        await asyncio.sleep(0.001)
