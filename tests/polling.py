"""The waits of tests that run real I/O: ask until the expected state shows
(``eventually``), move a fake clock until it does (``run_until``; a whole daemon:
``run_daemon_until``, ``run_daemon_for``), or wait until a dispatcher has done what
is due (``settle``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from sentinel.clock import FakeClock

if TYPE_CHECKING:
    from sentinel.app.daemon import Daemon

POLL = 0.05  # seconds between two asks
IDLE_POLL = 0.002  # seconds between two asks whether a step's real I/O is over


Probe = Callable[[], bool | Awaitable[bool]]  # a function, or an async one


async def _ask(probe: Probe) -> bool:
    answer = probe()
    if inspect.isawaitable(answer):
        answer = await answer
    return bool(answer)


async def eventually(probe: Probe, seconds: float = 15.0, poll: float = POLL) -> None:
    """Ask ``probe`` (a function, or an async one) every ``poll`` seconds until it
    answers true; bounded in time, it raises AssertionError when ``seconds`` pass first."""
    for _ in range(int(seconds / poll)):
        if await _ask(probe):
            return
        await asyncio.sleep(poll)
    raise AssertionError("condition not reached in time")


async def run_until(
    clock: FakeClock,
    done: Probe,
    settled: Callable[[], bool],
    seconds: float,
    step: float = 0.05,
) -> float:
    """Move ``clock`` forward ``step`` at a time, after each step waiting (real time,
    bounded) until ``settled()`` (the real I/O the step started is over), until
    ``done()`` (a function, or an async one: an HTTP request) answers true. Returns the
    fake seconds that took; raises AssertionError when ``seconds`` of fake time pass
    first. A daemon on a fake clock runs its checks only as the test moves the clock:
    what happens when is a timeline, not a race."""
    elapsed = 0.0
    while not await _ask(done):
        if elapsed >= seconds - 1e-9:
            raise AssertionError(f"condition not reached within {seconds:g}s of the fake clock")
        await clock.advance(step)
        elapsed += step
        await eventually(settled, poll=IDLE_POLL)
    return elapsed


def daemon_idle(d: Daemon) -> bool:
    """The real I/O a step of ``d``'s fake clock started is over (:meth:`Daemon.idle`)."""
    return d.idle()


def _fake_clock(d: Daemon) -> FakeClock:
    assert isinstance(d.clock, FakeClock), "the daemon runs on the real clock"
    return d.clock


async def run_daemon_until(
    d: Daemon, done: Probe, seconds: float = 0.35, step: float = 0.05
) -> float:
    """Run ``d`` on its fake clock until ``done()``: :func:`run_until`, each step
    settled on :func:`daemon_idle`. The fake seconds it took (at most ``seconds``)."""
    return await run_until(_fake_clock(d), done, lambda: daemon_idle(d), seconds, step)


async def run_daemon_for(d: Daemon, seconds: float, step: float = 0.05) -> None:
    """Run ``d`` on its fake clock for ``seconds``, each step settled on
    :func:`daemon_idle`: what it would do meanwhile (a wrong ack, a second text) has
    been done when this returns."""
    clock = _fake_clock(d)
    end = clock.monotonic() + seconds
    await eventually(lambda: daemon_idle(d), poll=IDLE_POLL)
    while clock.monotonic() < end - 1e-9:
        await clock.advance(min(step, end - clock.monotonic()))
        await eventually(lambda: daemon_idle(d), poll=IDLE_POLL)


class _Settles(Protocol):
    async def settled(self) -> None: ...


async def settle(dispatcher: _Settles, seconds: float = 30.0) -> None:
    """Wait until a dispatcher on a fake clock is idle: the real HTTP and store I/O of
    what is due now has finished (its own signal, ``Dispatcher.settled()``; bounded in
    real time, it raises AssertionError when ``seconds`` pass first)."""
    try:
        await asyncio.wait_for(dispatcher.settled(), seconds)
    except TimeoutError:
        raise AssertionError("dispatcher did not settle") from None
