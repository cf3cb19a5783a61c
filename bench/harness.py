"""What the latency benches share: loopback peers, sentinel as a real process, the
paced failing of targets, percentiles, and the report section they write.

    async with serve(peers.app()) as peer_port, sentinel(config, log=log_path):
        await fail_in_turn(peers, args)       # args.checks, .warmup, .spacing
    write_section(report_text, MARKER)                 # docs/performance.md, between markers
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, MutableMapping, MutableSet
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE = ROOT / "docs" / "performance.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[int]:
    """``app`` on a free loopback port, for as long as the block runs; yields the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def sentinel(
    config: Path, *, log: Path | None = None, tail: bool = False
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``sentinel run -c config`` as a child process (warnings only, to ``log`` or nowhere),
    stopped with SIGTERM when the block ends; ``tail`` prints the end of its log then."""
    env = {**os.environ, "SENTINEL_LOG_LEVEL": "warning"}
    with contextlib.ExitStack() as files:
        out = files.enter_context(log.open("wb")) if log else asyncio.subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sentinel", "run", "-c", str(config),
            env=env, stdout=out, stderr=out,
        )  # fmt: skip
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
    if tail and log:
        print(log.read_text()[-3000:])  # noqa: ASYNC240 (once, after the process ended)


class _Targets(Protocol):
    @property
    def failing(self) -> MutableMapping[int, float] | MutableSet[int]: ...
    @property
    def all_in(self) -> asyncio.Event: ...


class _Pace(Protocol):
    checks: int
    warmup: float
    spacing: float


async def fail_in_turn(peers: _Targets, args: _Pace, wait: float = 30.0) -> None:
    """After ``args.warmup`` seconds, mark targets 0..checks-1 failing one every
    ``args.spacing`` (in ``peers.failing``; a map records when), then wait at most
    ``wait`` seconds for ``peers.all_in`` (every page arrived)."""
    await asyncio.sleep(args.warmup)
    for i in range(args.checks):
        if isinstance(peers.failing, MutableMapping):
            peers.failing[i] = time.time()
        else:
            peers.failing.add(i)
        await asyncio.sleep(args.spacing)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(peers.all_in.wait(), wait)


def measured(how: str) -> str:
    """The line under a section's title: when, on what, and how it was measured."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Measured {stamp} on {os.cpu_count()} cores, Python {platform.python_version()}, {how}."


def write_section(
    section: str, marker: str, report: Path = PERFORMANCE, empty: str = "# Performance\n"
) -> None:
    """Put ``section`` (which starts and ends with ``marker``) into ``report`` in place of
    the one there, or at the end (a missing file starts as ``empty``)."""
    text = report.read_text() if report.exists() else empty
    if marker in text:
        head, _, rest = text.partition(marker)
        _, _, tail = rest.partition(marker)
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    report.write_text(text)
