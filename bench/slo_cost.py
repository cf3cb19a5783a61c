"""Benchmark: what SLOs cost. 10,000 checks run every 30 s, each with one rule
(``up == 0`` for 1m); the same run again with one availability SLO per check.

The daemon's alert path is driven on a fake clock at full speed: every result goes
through the RuleEngine (with the SLO engine attached in the second run), the rule tick
runs every 5 s, and in the second run the SLO keeper does what it does each minute
(statuses for /metrics and the API, the counted minutes written to a SQLite store).
Process CPU time (the SQLite thread's included) is measured over ``--minutes`` simulated
minutes (default 10, after one of warm-up) and given per simulated hour: the CPU-s the
daemon would spend per hour of wall time on this work. The hourly prune is timed once in
its steady state (an hour of minutes of every SLO past the window: written first, not
timed) and added. Probes, HTTP and history writes are the same in both runs and left
out, so the ratio here is the SLOs' share of the alert path alone; the share of the
whole daemon uses the http_checks bench's CPU per probe. Memory: the Python memory
traced for the config and the engines (SLO counters full), with SLOs minus without.

    python -m bench.slo_cost [--checks 10000] [--minutes 10] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import platform
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.harness import write_section
from sentinel.clock import FakeClock
from sentinel.config import parse_config
from sentinel.config.models import Config
from sentinel.probes.results import Result
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo_engine import SloEngine
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.rules.slo_table import SloTable
from sentinel.store.sqlite import SqliteStore

START = datetime(2026, 1, 5, tzinfo=UTC)
INTERVAL = 30.0
TICK = 5.0
REPORT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
MARKER = "<!-- bench:slo_cost -->"
BAR = 0.10  # the SLOs' cost: within 10% of the run without them
# bench.http_checks --rules: CPU-s per 1,000 probes, rules included (10 s checks,
# measured 2026-12-05 at 0.238-0.297 with load 1-3; 0.567 on 2026-12-02's machine)
DAEMON_CPU_PER_1000 = 0.24


def config(checks: int, slos: bool) -> Config:
    data: dict[str, object] = {
        "checks": [
            {"name": f"c{i}", "type": "tcp", "target": "127.0.0.1:1", "interval": "30s"}
            for i in range(checks)
        ],
        "rules": [{"name": "Down", "match": {"type": "tcp"}, "expr": "up == 0", "for": "1m"}],
    }
    if slos:
        data["slos"] = [
            {"name": f"s{i}", "match": {"check": f"c{i}"}, "objective": "99.9%"}
            for i in range(checks)
        ]
    return parse_config(yaml.safe_dump(data), "bench.yaml", {})


class CountingStore(SqliteStore):
    """SQLite, counting the SLO minutes written."""

    written = 0

    async def save_slo_minutes(
        self, rows: Sequence[tuple[str, int, int, int]], member: str = ""
    ) -> None:
        self.written += len(rows)
        await super().save_slo_minutes(rows, member)


@dataclass
class Measured:
    cpu: float = 0.0  # CPU-s over the simulated minutes
    traced: int = 0  # bytes of Python memory kept by the config and the engines
    rows: int = 0  # SLO minutes written to the store over the simulated minutes
    prune: float = 0.0  # CPU-s of one hourly prune in the steady state (SLO run only)
    pruned: int = 0  # rows it deleted
    parts: dict[str, float] = field(default_factory=dict)  # CPU-s per part of the minute


async def run(checks: int, minutes: int, slos: bool) -> Measured:
    """CPU-s over ``minutes`` simulated minutes (after a minute of warm-up), the Python
    memory traced for the config and the engines' set-up (counters full, the statuses
    kept), and with SLOs
    one steady-state hourly prune (an hour of minutes of every SLO past the window)."""
    out = Measured()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cfg = config(checks, slos)
    clock = FakeClock(START)
    rules = RuleEngine()
    engine = SloEngine()
    if slos:
        rules.attach(engine)
    rules.configure(cfg)
    for slo in engine.slos:  # a full hour ring: every bucket holds counts
        counters = engine.counters(slo.name)
        assert counters is not None
        counters.seed(START.timestamp(), 30 * 86400, 2)
    # what the keeper keeps for /metrics and the API: the statuses as a compact table
    held = SloTable.of(engine.slos, engine.statuses(START), START.timestamp())
    gc.collect()
    out.traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del held
    with tempfile.TemporaryDirectory() as tmp:
        store = CountingStore(str(Path(tmp) / "bench.db"))
        await store.open()
        keeper = SloKeeper(engine, store, clock) if slos else None
        names = [c.name for c in cfg.checks]
        phase = {name: (i * INTERVAL / checks) for i, name in enumerate(names)}
        started = 0.0
        step = 0.5  # results land in half-second slots, as the scheduler's phases spread
        total = (minutes + 1) * 60
        slots = int(INTERVAL / step)
        by_slot: dict[int, list[str]] = {}
        for name, offset in phase.items():
            by_slot.setdefault(int(offset / step) % slots, []).append(name)
        parts = {"results": 0.0, "ticks": 0.0, "statuses": 0.0, "store": 0.0}
        timed = False
        for k in range(int(total / step)):
            if k == int(60 / step):
                started = time.process_time()  # after a minute of warm-up
                timed = True
            at = START + timedelta(seconds=k * step)
            t0 = time.process_time()
            for name in by_slot.get(k % slots, ()):
                rules.observe(Result(name, "tcp", True, at, 0.01), at)
            t1 = time.process_time()
            if (k * step) % TICK == 0:
                rules.tick(at)
            t2 = time.process_time()
            if (k * step) % 60 == 0:
                await clock.advance((at - clock.now()).total_seconds())  # the keeper's now
            if keeper is not None and (k * step) % 60 == 0:
                t3 = time.process_time()
                keeper.refresh()
                t4 = time.process_time()
                written = store.written
                await keeper.save()
                t5 = time.process_time()
                if timed:
                    parts["statuses"] += t4 - t3
                    parts["store"] += t5 - t4
                    out.rows += store.written - written
            if timed:
                parts["results"] += t1 - t0
                parts["ticks"] += t2 - t1
        out.cpu = time.process_time() - started
        out.parts = parts
        if keeper is not None:
            out.prune, out.pruned = await steady_prune(keeper, store, clock)
        await store.close()
    return out


async def steady_prune(
    keeper: SloKeeper, store: SqliteStore, clock: FakeClock
) -> tuple[float, int]:
    """The hourly prune once the store holds a whole window: an hour of minutes of each
    SLO has just passed out of it. Those rows are written (not timed), then pruned."""
    now = clock.now().timestamp()
    longest = max(s.longest() for s in keeper.engine.slos)
    cutoff = math.floor((now - longest - 3600) / 60)  # what prune() deletes below
    rows = [
        (s.name, minute, 2, 2) for s in keeper.engine.slos for minute in range(cutoff - 60, cutoff)
    ]
    for i in range(0, len(rows), 50_000):
        await store.save_slo_minutes(rows[i : i + 50_000])
    started = time.process_time()
    await keeper.prune()
    return time.process_time() - started, len(rows)


def report(args: argparse.Namespace, base: Measured, slo: Measured) -> str:
    per_hour = 60 / args.minutes
    base_h = base.cpu * per_hour
    slo_h = slo.cpu * per_hour + slo.prune  # one prune an hour
    extra_h = slo_h - base_h
    probes_h = args.checks * 3600 / INTERVAL
    daemon_h = DAEMON_CPU_PER_1000 * probes_h / 1000
    share = extra_h / daemon_h
    verdict = "meets" if share <= BAR else "MISSES"
    memory = (slo.traced - base.traced) / args.checks
    parts = ", ".join(
        f"{name} {(slo.parts[name] - base.parts[name]) * per_hour:.1f}"
        for name in ("results", "ticks", "statuses", "store")
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    return (
        f"### SLO cost: {args.checks:,} checks every 30 s, one availability SLO each\n\n"
        f"Measured {stamp} on {os.cpu_count()} cores (load average {load:.2f} at the end), "
        f"Python {platform.python_version()}, `python -m bench.slo_cost --checks "
        f"{args.checks} --minutes {args.minutes}`: the alert path on a fake clock, "
        f"{args.minutes} simulated minutes after one of warm-up, without and with the "
        "SLOs; process CPU (the SQLite thread's included) per simulated hour.\n\n"
        "| figure | measured | bar |\n|---|---|---|\n"
        f"| alert path, CPU-s per hour | {base_h:.1f} without SLOs, {slo_h:.1f} with "
        f"(+{extra_h / base_h:.0%} of the alert path) | |\n"
        f"| the SLOs' CPU-s per hour, by part | {parts}; hourly prune {slo.prune:.1f} "
        f"({slo.pruned:,} rows) | |\n"
        f"| the SLOs' CPU against the whole daemon ({daemon_h:.0f} CPU-s per hour at "
        f"{DAEMON_CPU_PER_1000} CPU-s per 1,000 probes) | +{extra_h:.1f} CPU-s per hour "
        f"(+{share:.1%}; {extra_h / 36:.2f}% of a core) | <= {BAR:.0%} ({verdict}) |\n"
        f"| per SLO | {extra_h / args.checks * 1000:.2f} CPU-ms per hour, "
        f"{memory / 1024:.1f} kB of Python memory (its config, engine state, full "
        "counters, status) | |\n"
        f"| SLO minutes written to the store | {slo.rows / args.minutes:,.0f} rows a "
        "minute | |\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    base = asyncio.run(run(args.checks, args.minutes, slos=False))
    slo = asyncio.run(run(args.checks, args.minutes, slos=True))
    section = report(args, base, slo)
    print(section)
    if not args.no_write:
        write_section(f"{MARKER}\n{section}{MARKER}", MARKER, REPORT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
