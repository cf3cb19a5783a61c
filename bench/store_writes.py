"""Benchmark: the history writes of 10,000 checks every 10 s, on SQLite and on
PostgreSQL, side by side in one run.

For each store, ``--intervals`` intervals of ``--checks`` results (shaped as
the HTTP probe makes them: up, duration, status code, body size) go through
``add_results`` in the history writer's batches of 500, as fast as the store
takes them (time is compressed; CPU per result is what is measured):

- CPU seconds per 1,000 results on sentinel's side (``time.process_time``: the
  event loop plus aiosqlite's thread), and for PostgreSQL also the server's
  backends serving this store (``/proc/<pid>/stat`` of their pids; the shared
  WAL writer and checkpointer are not counted, and the server must run on this
  machine);
- store write latency per batch, p50 and p99;
- database size per day of history at this rate (bytes per result, table and
  indexes, measured after the writes, times 10,000 x 8,640).

PostgreSQL runs in a database made for the run and dropped at the end
(``SENTINEL_TEST_POSTGRES_DSN``, default the local server). Prints a table;
changes nothing else.

    python -m bench.store_writes [--checks 10000] [--intervals 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.pg_database import backend_seconds, fresh_database
from sentinel.probes.results import Result, Sample
from sentinel.store import open_store

BATCH = 500
PER_DAY = 86_400 / 10


def results(checks: int, interval: int) -> list[Result]:
    start = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=10 * interval)
    out = []
    for i in range(checks):
        ok = i % 50 != 0
        duration = 0.002 + (i % 97) / 10_000
        out.append(
            Result(
                check=f"svc{i // 100:03d}-http-{i:05d}",
                type="http",
                ok=ok,
                started_at=start + timedelta(microseconds=i * 997),
                duration=duration,
                error=None if ok else "status 503",
                samples=(
                    Sample("up", 1.0 if ok else 0.0),
                    Sample("duration_seconds", duration),
                    Sample("status_code", 200.0 if ok else 503.0),
                    Sample("body_bytes", 612.0),
                ),
            )
        )
    return out


async def run(
    url: str, args: argparse.Namespace, size: Callable[[], Awaitable[int]]
) -> dict[str, float]:
    store = open_store(url)
    await store.open()
    batches = []
    for n in range(args.intervals):
        rows = results(args.checks, n)
        batches += [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    pg = url.startswith("postgresql")
    server_before = await backend_seconds(url) if pg else 0.0
    cpu = time.process_time()
    latencies = []
    for batch in batches:
        t = time.perf_counter()
        await store.add_results(batch)
        latencies.append(time.perf_counter() - t)
    cpu = time.process_time() - cpu
    server = (await backend_seconds(url) - server_before) if pg else 0.0
    await store.close()
    written = sum(len(b) for b in batches)
    nbytes = await size()
    latencies.sort()
    return {
        "cpu": cpu * 1000 / written,
        "server": server * 1000 / written,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "gb_day": nbytes / written * args.checks * PER_DAY / 1e9,
    }


def main_sync(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"

        async def sqlite_size() -> int:
            files = await asyncio.to_thread(lambda: list(Path(tmp).glob("bench.db*")))
            return sum(p.stat().st_size for p in files)

        sqlite = asyncio.run(run(f"sqlite:{path}", args, sqlite_size))
    with fresh_database() as url:

        async def pg_size() -> int:
            c = await asyncpg.connect(url)
            try:
                await c.execute("VACUUM ANALYZE results")
                return int(
                    await c.fetchval(
                        "SELECT pg_total_relation_size('results') "
                        "+ pg_total_relation_size('uptime_daily')"
                    )
                )
            finally:
                await c.close()

        pg = asyncio.run(run(url, args, pg_size))
    total_pg = pg["cpu"] + pg["server"]
    print(
        f"{args.checks} checks x {args.intervals} intervals, batches of {BATCH}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print("store       CPU-s/1000 (sentinel + server)  write p50   p99      size/day")
    for label, r, total in (("sqlite", sqlite, sqlite["cpu"]), ("postgresql", pg, total_pg)):
        print(
            f"{label:<11} {total:.4f} ({r['cpu']:.4f} + {r['server']:.4f})"
            f"{'':>9}{r['p50']:6.1f} ms {r['p99']:6.1f} ms  {r['gb_day']:.2f} GB"
        )
    print(f"postgresql / sqlite CPU: {total_pg / sqlite['cpu']:.2f}x (bar: 1.25x)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--intervals", type=int, default=6)
    main_sync(parser.parse_args())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
