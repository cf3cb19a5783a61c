"""Benchmark: rule evaluations per second for 10,000 alert instances on one core.

Half the instances evaluate an instant comparison (``latency > 2``), half a
5-minute window function over 30 samples (``avg(latency[5m]) > 2``). Each
instance has its own check series, filled with 30 points 10 s apart. The
evaluations run through the engine's own pieces (``evaluate`` and ``step``),
single-threaded, and process CPU time is measured.

    python -m bench.rule_eval [--instances 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import UTC, datetime, timedelta

from sentinel.probes.results import Result, Sample
from sentinel.rules.evaluate import evaluate
from sentinel.rules.expr import parse
from sentinel.rules.series import CheckSeries
from sentinel.rules.state import AlertState, step

START = datetime(2026, 1, 1, tzinfo=UTC)
BAR = 50_000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    instant, window = parse("latency > 2"), parse("avg(latency[5m]) > 2")
    instances = []
    for i in range(args.instances):
        series = CheckSeries(300)
        for k in range(30):
            at = START + timedelta(seconds=10 * k)
            value = 1.0 + (i + k) % 3
            series.add(Result(f"c{i}", "http", True, at, 0.01, None, (Sample("latency", value),)))
        instances.append((instant if i % 2 == 0 else window, series))
    now = (START + timedelta(seconds=290)).timestamp()
    states = [AlertState() for _ in instances]
    started = time.process_time()
    for _ in range(args.rounds):
        for n, (node, series) in enumerate(instances):
            result = evaluate(node, series, now)
            states[n], _ = step(states[n], bool(result.value), now, 60.0)
    cpu = time.process_time() - started
    total = args.rounds * len(instances)
    rate = total / cpu
    verdict = "meets" if rate >= BAR else "MISSES"
    print(
        f"| rule evaluations/s (one core, {args.instances:,} instances, half 5m windows over 30 samples) "
        f"| {rate:,.0f} | >= {BAR:,} ({verdict}) |  \nPython {platform.python_version()}, {total:,} evaluations in {cpu:.2f} CPU-s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
