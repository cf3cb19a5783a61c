"""What the latency benches share: loopback peers, the config of failing HTTP checks,
sentinel as a real process, the paced failing of targets, percentiles, and the
report section they write.

    write_config(path, port, peer_port, args.checks, channels, notify)  # the config
    async with serve(peers.app()) as peer_port, sentinel(config, log=log_path):
        await fail_in_turn(peers, args)       # args.checks, .warmup, .spacing
    return publish(parser, MARKER, run, report, passed)   # main(): docs/performance.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import socket
import sys
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Mapping,
    MutableMapping,
    MutableSet,
    Sequence,
)
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE = ROOT / "docs" / "performance.md"
INTERVAL, FOR = 1.0, 2.0  # the checks' interval; how long ServiceDown waits before firing
R = TypeVar("R")


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


def write_config(
    path: Path,
    port: int,
    peer: int,
    checks: int,
    channels: Mapping[str, str],
    notify: Sequence[str],
    *,
    people: Sequence[str] = (),
) -> None:
    """The latency benches' config: sentinel on ``port`` with a SQLite store beside
    ``path``, ``checks`` HTTP checks of ``peer``'s ``/h/<i>`` every :data:`INTERVAL`, the
    rule ServiceDown (critical after :data:`FOR`), the ``channels`` (name -> its YAML
    mapping), ``people`` (lines such as ``contacts:``), and one escalation step paging
    ``notify`` at once; storm digests held off: one alert at a time is measured."""
    lines = [
        f'server: {{listen: "127.0.0.1:{port}", external_url: "http://127.0.0.1:{port}"}}',
        f'storage: {{url: "sqlite:{path.parent / "s.db"}"}}',
        "checks:",
        *(
            f'  - {{name: c{i}, type: http, url: "http://127.0.0.1:{peer}/h/{i}", '
            f"interval: {INTERVAL:g}s, timeout: 1s}}"
            for i in range(checks)
        ),
        "rules:",
        f"  - {{name: ServiceDown, match: {{type: http}}, expr: up == 0, for: {FOR:g}s, "
        "severity: critical}",
        *people,
        "channels:",
        *(f"  {name}: {channel}" for name, channel in channels.items()),
        "escalation:",
        "  critical:",
        f"    - {{after: 0s, notify: [{', '.join(notify)}]}}",
        "notifications: {storm: {threshold: 1000}}",
    ]
    path.write_text("\n".join(lines) + "\n")


class _Targets(Protocol):
    @property
    def failing(self) -> MutableMapping[int, float] | MutableSet[int]: ...
    @property
    def all_in(self) -> asyncio.Event: ...


class _Pace(Protocol):
    checks: int
    warmup: float
    spacing: float


def paced(checks: int, spacing: float) -> argparse.ArgumentParser:
    """The arguments :func:`fail_in_turn` reads, with the bench's defaults."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=checks)
    parser.add_argument("--spacing", type=float, default=spacing)
    parser.add_argument("--warmup", type=float, default=4.0)
    return parser


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


def measured(how: str, *, load: bool = False) -> str:
    """The line under a section's title: when, on what (``load``: with the load average
    as the bench ended), and how it was measured."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cores = f"{os.cpu_count()} cores"
    if load:
        cores += f" (load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} when it ended)"
    return f"Measured {stamp} on {cores}, Python {platform.python_version()}, {how}."


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


def publish(
    parser: argparse.ArgumentParser,
    marker: str,
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, R]],
    report: Callable[[R, argparse.Namespace], str],
    passed: Callable[[R, argparse.Namespace], bool],
) -> int:
    """A bench's ``main``: its arguments (``parser``, with ``--no-write`` added), ``run``,
    the ``report`` section printed and put into docs/performance.md (unless
    ``--no-write``); the exit status, 0 when ``passed``."""
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    r = asyncio.run(run(args))
    section = report(r, args)
    print(section)
    if not args.no_write:
        write_section(section, marker)
    return 0 if passed(r, args) else 1
