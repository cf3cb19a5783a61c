"""Benchmark: the scheduler's own cost, without probes: 10,000 checks every 10 s.

``execute`` does nothing, so what is measured is the scheduler alone: waking
up for each 10 ms slot, starting each due run in its own task, taking a slot
of the concurrency limit, and recording lateness. Runs on the real clock and
uvloop for ``--seconds`` (after one interval of warm-up) and prints CPU
seconds per 1,000 runs (process time, so other processes on the machine
count little) and the mean lateness of the runs after their due times.

    python -m bench.scheduler_dispatch [--checks 10000] [--interval 10] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop
from prometheus_client import CollectorRegistry

from sentinel.clock import SystemClock
from sentinel.metrics import Metrics
from sentinel.probes.results import LatestResults
from sentinel.probes.scheduler import Scheduler


async def run(args: argparse.Namespace) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, LatestResults(), "bench")

    def lateness_sum() -> float:
        return registry.get_sample_value("sentinel_scheduler_lateness_seconds_sum") or 0.0

    runs = 0

    async def execute(name: str) -> None:
        nonlocal runs
        runs += 1

    scheduler = Scheduler(SystemClock(), execute, metrics, max_concurrency=1000)
    scheduler.schedule((f"check-{i}", args.interval) for i in range(args.checks))
    scheduler.start()
    await asyncio.sleep(args.interval)
    before_runs, cpu0 = runs, time.process_time()
    sum0 = lateness_sum()
    await asyncio.sleep(args.seconds)
    cpu = time.process_time() - cpu0
    done = runs - before_runs
    late = (lateness_sum() - sum0) / max(done, 1)
    await scheduler.stop(grace=1)
    print(f"runs/s {done / args.seconds:.0f} (expected {args.checks / args.interval:.0f})")
    print(f"CPU-s per 1,000 runs {cpu / max(done, 1) * 1000:.4f}")
    print(f"mean lateness {late * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
