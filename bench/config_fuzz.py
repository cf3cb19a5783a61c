"""Benchmark: 500 seeded random mutations of the example config, each loaded in-process.

Each mutation (tests/config/mutations.py: a key deleted, a scalar retyped, a
list item duplicated, a tab inserted, a line cut, a byte that is not UTF-8, ...)
must load as a valid config or fail with ConfigError lines that name the line;
anything else is a failure. Reports the slowest mutation's wall time, the
median, and, for scale, how long an 8-level alias bomb takes to be refused.

    python -m bench.config_fuzz [--count 500] [--seed 13]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sentinel.config import ConfigError, load_config, parse_config
from tests.config.mutations import mutations
from tests.examples import EXAMPLE_ENV


def bomb(levels: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * 9) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join([*lines, f"checks: *a{levels}"]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    times: list[tuple[float, str]] = []
    refused = failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sentinel.yaml"
        line = re.compile(rf"^{re.escape(str(path))}:\d+: ")
        for mutation in mutations(args.count, args.seed):
            path.write_bytes(mutation.raw)
            start = time.perf_counter()
            try:
                load_config(path, EXAMPLE_ENV)
            except ConfigError as exc:
                refused += 1
                failures += not all(line.match(p) for p in exc.problems)
            except Exception as exc:  # the point of the benchmark: nothing else may escape
                failures += 1
                print(f"FAILED {mutation.name}: {type(exc).__name__}", file=sys.stderr)
            times.append((time.perf_counter() - start, mutation.name))
    start = time.perf_counter()
    with contextlib.suppress(ConfigError):  # refused: what is timed is how soon
        parse_config(bomb(8), "bomb.yaml", {})
    bomb_ms = (time.perf_counter() - start) * 1000
    slowest, name = max(times)
    median = statistics.median(t for t, _ in times)
    print(
        f"| config fuzz: {len(times)} mutations of the example (seed {args.seed}) "
        f"| slowest {slowest * 1000:.0f} ms ({name}) | median {median * 1000:.1f} ms, "
        f"{refused} refused, {len(times) - refused} valid, {failures} failures; "
        f"8-level alias bomb refused in {bomb_ms:.1f} ms |"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
