"""The waits of tests that run real I/O: ask until the expected state shows
(``eventually``), move a fake clock until it does (``run_until``), or wait until a
dispatcher has done what is due (``settle``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Protocol

from sentinel.clock import FakeClock

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


async def run_until(
    clock: FakeClock,
    done: Callable[[], bool],
    settled: Callable[[], bool],
    seconds: float,
    step: float = 0.05,
) -> float:
    """Move ``clock`` forward ``step`` at a time, after each step waiting (real time,
    bounded) until ``settled()`` (the real I/O the step started is over), until
    ``done()`` answers true. Returns the fake seconds that took; raises AssertionError
    when ``seconds`` of fake time pass first. A daemon on a fake clock runs its checks
    only as the test moves the clock: what happens when is a timeline, not a race."""
    elapsed = 0.0
    while not done():
        if elapsed >= seconds - 1e-9:
            raise AssertionError(f"condition not reached within {seconds:g}s of the fake clock")
        await clock.advance(step)
        elapsed += step
        await eventually(settled)
    return elapsed


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
