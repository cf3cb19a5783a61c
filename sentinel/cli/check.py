"""``sentinel check``: every check once now, concurrently, as a table."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from sentinel.clock import Clock
from sentinel.config import Config, format_duration
from sentinel.probes.base import ProbeContext
from sentinel.probes.registry import registry
from sentinel.probes.results import Result
from sentinel.probes.runner import Armed, execute
from sentinel.probes.unbuildable import build_probe
from sentinel.tables import render_table


async def check_once(config: Config, clock: Clock, only: Sequence[str] | None) -> int:
    """Run the selected checks once, concurrently, print a table; 0 if all pass."""
    checks = [c for c in config.checks if not only or c.name in only]
    missing = sorted(set(only or []) - {c.name for c in checks})
    if missing:
        print(f"unknown check: {', '.join(missing)}", file=sys.stderr)
        return 2
    factories = registry()
    context = ProbeContext(clock=clock)
    slots = asyncio.Semaphore(config.scheduler.max_concurrency)
    armed = [
        Armed(c, c.type, build_probe(factories[c.type], c, context))
        for c in checks
        if c.type in factories
    ]

    async def one(a: Armed) -> Result:
        async with slots:
            return await execute(a, clock)

    try:
        results = {r.check: r for r in await asyncio.gather(*(one(a) for a in armed))}
    finally:
        for a in armed:
            await a.probe.close()
        await context.close()
    rows = []
    for c in checks:
        r = results.get(c.name)
        if r is None:
            rows.append((c.name, c.type, "SKIP", "-", f"probe type {c.type!r} not available yet"))
        else:
            rows.append(
                (
                    c.name,
                    c.type,
                    "ok" if r.ok else "FAIL",
                    format_duration(round(r.duration, 3)),
                    r.error or "",
                )
            )
    print(render_table(("CHECK", "TYPE", "OK", "LATENCY", "REASON"), rows))
    return 0 if all(r.ok for r in results.values()) and len(results) == len(checks) else 1
