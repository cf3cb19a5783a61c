"""Benchmark: what SLOs cost. 10,000 checks run every 30 s, each with one rule
(``up == 0`` for 1m); the same run again with one availability SLO per check.

The daemon's alert path is driven on a fake clock at full speed: every result goes
through the RuleEngine (with the SLO engine attached in the second run), the rule tick
runs every 5 s, and in the second run the SLO keeper does what it does each minute
(statuses for /metrics and the API, the counted minutes written to a SQLite store) and
each hour (pruning). Process CPU time is measured over ``--minutes`` simulated minutes
(default 10, after one of warm-up) and given per simulated hour: the CPU-s the daemon
would spend per hour of wall time on this work. Probes, HTTP and history writes are the
same in both runs and left out, so the ratio here is the SLOs' share of the alert path
alone; the share of the whole daemon uses the http_checks bench's CPU per probe.
Memory: the Python memory traced while the SLO engine is configured and filled.

    python -m bench.slo_cost [--checks 10000] [--minutes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from sentinel.clock import FakeClock
from sentinel.config import parse_config
from sentinel.config.models import Config
from sentinel.probes.results import Result
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo_engine import SloEngine
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.store.sqlite import SqliteStore

START = datetime(2026, 1, 5, tzinfo=UTC)
INTERVAL = 30.0
TICK = 5.0
BAR = 0.10  # the SLOs' cost: within 10% of the run without them
# bench.http_checks --rules (docs/performance.md): CPU-s per 1,000 probes, rules included
DAEMON_CPU_PER_1000 = 0.567


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


async def run(checks: int, minutes: int, slos: bool) -> tuple[float, int]:
    """CPU-s over ``minutes`` simulated minutes (after a minute of warm-up), and the
    Python memory traced for the SLO engine's set-up and counters (0 without SLOs)."""
    cfg = config(checks, slos)
    clock = FakeClock(START)
    rules = RuleEngine()
    keeper = None
    traced = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(str(Path(tmp) / "bench.db"))
        await store.open()
        if slos:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            engine = SloEngine()
            rules.attach(engine)
            rules.configure(cfg)
            for i in range(checks):  # a full hour ring: every bucket holds counts
                counters = engine.counters(f"s{i}")
                assert counters is not None
                counters.seed(START.timestamp(), 30 * 86400, 2)
            traced = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            keeper = SloKeeper(engine, store, clock)
        else:
            rules.configure(cfg)
        names = [c.name for c in cfg.checks]
        phase = {name: (i * INTERVAL / checks) for i, name in enumerate(names)}
        started = 0.0
        step = 0.5  # results land in half-second slots, as the scheduler's phases spread
        total = (minutes + 1) * 60
        slots = int(INTERVAL / step)
        by_slot: dict[int, list[str]] = {}
        for name, offset in phase.items():
            by_slot.setdefault(int(offset / step) % slots, []).append(name)
        for k in range(int(total / step)):
            if k == int(60 / step):
                started = time.process_time()  # after a minute of warm-up
            at = START + timedelta(seconds=k * step)
            for name in by_slot.get(k % slots, ()):
                rules.observe(Result(name, "tcp", True, at, 0.01), at)
            if (k * step) % TICK == 0:
                rules.tick(at)
            if keeper is not None and (k * step) % 60 == 0:
                keeper.refresh()
                await keeper.save()
        cpu = time.process_time() - started
        if keeper is not None:
            await keeper.prune()
        await store.close()
    return cpu, traced


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    base, _ = asyncio.run(run(args.checks, args.minutes, slos=False))
    with_slo, traced = asyncio.run(run(args.checks, args.minutes, slos=True))
    per_hour = 60 / args.minutes
    base_h, slo_h = base * per_hour, with_slo * per_hour
    extra_h = slo_h - base_h
    probes_h = args.checks * 3600 / INTERVAL
    daemon_h = DAEMON_CPU_PER_1000 * probes_h / 1000
    share = extra_h / daemon_h
    verdict = "meets" if share <= BAR else "MISSES"
    print(
        f"| alert path, CPU-s per hour ({args.checks:,} checks every 30 s, one rule each) "
        f"| {base_h:.1f} without SLOs, {slo_h:.1f} with one availability SLO each "
        f"(+{extra_h / base_h:.0%} of the alert path) |  \n"
        f"| SLOs' CPU-s per hour against the whole daemon ({daemon_h:.0f} CPU-s per hour "
        f"at {DAEMON_CPU_PER_1000} CPU-s per 1,000 probes) | +{extra_h:.1f} "
        f"(+{share:.1%}; bar <= {BAR:.0%}: {verdict}) |  \n"
        f"| per SLO | {extra_h / args.checks * 1000:.2f} CPU-ms per hour, "
        f"{traced / args.checks / 1024:.1f} kB traced |  \n"
        f"Python {platform.python_version()}, {args.minutes} simulated minutes each run"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
