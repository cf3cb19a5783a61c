"""The waits of tests that run real I/O: ask until the expected state shows
(``eventually``), or move a fake clock until it does (``run_until``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

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
