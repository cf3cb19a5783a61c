"""Soak: 10,000 HTTP checks at 10 s with rules, for a long time, looking for slow leaks.

sentinel runs as a real process (bench.http_checks' config and local target, two
rules per check). After a warm-up this samples, every ``--sample`` seconds:

- RSS                 VmRSS from /proc/<pid>/status
- file descriptors    entries of /proc/<pid>/fd
- OS threads          entries of /proc/<pid>/task
- asyncio tasks       counted on sentinel's own loop (see ``--child``)

and scrapes /metrics at the start and end of the first and last window to compare
scheduler lateness (p99 from sentinel_scheduler_lateness_seconds). Verdicts:

- RSS growth from the end of warm-up to the end < 5%
- lateness p99 of the last window <= that of the first window x 1.25 + 5 ms
- fds and tasks: the median of the last window <= the median of the first x 1.05 + 10

The asyncio task count comes from a wrapper process: ``python -m bench.soak
--child CONFIG TASKS_FILE`` runs ``sentinel run`` unchanged and, from a thread,
asks its event loop every few seconds how many tasks it has (run on the loop, so
exact), appending ``<unix time> <tasks>`` lines to TASKS_FILE.

    python -m bench.soak [--minutes 30] [--checks 10000] [--interval 10] [--no-report]
    python -m bench.soak --kill-summary FILE    # the figures of the kill runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import ROOT, free_port, write_section
from bench.http_checks import (
    lateness_buckets,
    quantile,
    scrape,
    start_target,
    wait_http,
    write_config,
)

REPORT = ROOT / "docs" / "reliability.md"
MARKER = "<!-- bench:soak -->"


def child(config: str, tasks_file: str, every: float = 5.0) -> int:
    """``sentinel run -c CONFIG``, with a thread counting the loop's asyncio tasks."""
    import uvloop

    from sentinel.cli.main import main as sentinel_main

    loops: list[asyncio.AbstractEventLoop] = []
    new_loop = uvloop.new_event_loop

    def factory() -> asyncio.AbstractEventLoop:
        loop = new_loop()
        loops.append(loop)
        return loop

    # sentinel.cli looks it up at call time; uvloop's stub types it as its own Loop
    uvloop.new_event_loop = factory  # type: ignore[assignment]

    async def count() -> int:
        return len(asyncio.all_tasks())

    def watch() -> None:
        while not loops:
            time.sleep(0.1)
        loop = loops[0]
        while True:
            time.sleep(every)
            try:
                n = asyncio.run_coroutine_threadsafe(count(), loop).result(30)
            except Exception:  # the loop is closing
                return
            with Path(tasks_file).open("a") as f:
                f.write(f"{time.time():.3f} {n}\n")

    threading.Thread(target=watch, daemon=True).start()
    return sentinel_main(["run", "-c", config])


@dataclass
class Sample:
    at: float  # seconds since the end of warm-up
    rss_mb: float
    fds: int
    threads: int
    tasks: int | None


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    p99_first: float = float("nan")
    p99_last: float = float("nan")
    runs_per_second: float = float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def last_tasks(path: Path) -> int | None:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    return int(lines[-1].split()[1]) if lines else None


def sample(pid: int, tasks: Path, since: float) -> Sample:
    return Sample(
        at=round(time.monotonic() - since, 1),
        rss_mb=round(rss_mb(pid), 1),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=len(os.listdir(f"/proc/{pid}/task")),
        tasks=last_tasks(tasks),
    )


def run(args: argparse.Namespace) -> Soak:
    total = args.minutes * 60.0
    window = min(300.0, total / 3)
    soak = Soak()
    with tempfile.TemporaryDirectory(prefix="sentinel-soak-") as tmp:
        workdir = Path(tmp)
        target, target_port, _ = start_target(workdir)
        listen = free_port()
        config = write_config(workdir, target_port, listen, args.checks, args.interval, True)
        tasks = workdir / "tasks.log"
        env = {**os.environ, "SENTINEL_LOG_LEVEL": "warning", "SENTINEL_LOG_FORMAT": "json"}
        log = (workdir / "sentinel.log").open("wb")
        cmd = [sys.executable, "-m", "bench.soak", "--child", str(config), str(tasks)]
        daemon = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=ROOT)
        try:
            started = time.monotonic()
            while daemon.poll() is None:
                try:
                    wait_http(f"http://127.0.0.1:{listen}/health", 2)
                    break
                except OSError:
                    if time.monotonic() - started > 120:
                        raise
            if daemon.poll() is not None:
                raise RuntimeError(f"sentinel exited with {daemon.returncode}")
            time.sleep(args.warmup)
            t0 = time.monotonic()
            m_first0 = scrape(listen)
            marks: dict[str, Any] = {}
            while (elapsed := time.monotonic() - t0) < total:
                soak.samples.append(sample(daemon.pid, tasks, t0))
                if "first1" not in marks and elapsed >= window:
                    marks["first1"] = scrape(listen)
                if "last0" not in marks and elapsed >= total - window:
                    marks["last0"] = scrape(listen)
                time.sleep(min(args.sample, max(0.0, total - elapsed)))
            m_last1 = scrape(listen)
            soak.samples.append(sample(daemon.pid, tasks, t0))
            soak.p99_first = quantile(0.99, lateness_buckets(m_first0, marks["first1"]))
            soak.p99_last = quantile(0.99, lateness_buckets(marks["last0"], m_last1))
            ran = sum(m_last1.get("sentinel_check_runs_total", {}).values()) - sum(
                m_first0.get("sentinel_check_runs_total", {}).values()
            )
            soak.runs_per_second = ran / total
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
            target.terminate()
            target.wait(10)
            log.close()
            if args.log:
                print((workdir / "sentinel.log").read_text()[-3000:])
    return soak


def verdicts(s: Soak, window: float) -> dict[str, tuple[str, bool]]:
    first = [x for x in s.samples if x.at <= window]
    last = [x for x in s.samples if x.at >= s.samples[-1].at - window]

    def med(rows: list[Sample], name: str) -> float:
        values = [getattr(x, name) for x in rows if getattr(x, name) is not None]
        return statistics.median(values) if values else float("nan")

    rss0, rss1 = s.samples[0].rss_mb, s.samples[-1].rss_mb
    growth = (rss1 - rss0) / rss0 * 100
    out = {
        "RSS after warm-up -> end": (
            f"{rss0:.0f} -> {rss1:.0f} MB ({growth:+.1f}%; peak "
            f"{max(x.rss_mb for x in s.samples):.0f} MB)",
            growth < 5.0,
        ),
        "lateness p99, first -> last window": (
            f"{s.p99_first * 1000:.1f} -> {s.p99_last * 1000:.1f} ms",
            s.p99_last <= s.p99_first * 1.25 + 0.005,
        ),
    }
    for name, label in (("fds", "open file descriptors"), ("tasks", "asyncio tasks")):
        a, b = med(first, name), med(last, name)
        out[f"{label}, median first -> last window"] = (
            f"{a:.0f} -> {b:.0f} (min {min(getattr(x, name) or 0 for x in s.samples)}, "
            f"max {max(getattr(x, name) or 0 for x in s.samples)})",
            b <= a * 1.05 + 10,
        )
    threads = [x.threads for x in s.samples]
    out["OS threads, start -> end"] = (
        f"{threads[0]} -> {threads[-1]}",
        threads[-1] <= threads[0] + 5,
    )
    return out


def report(s: Soak, args: argparse.Namespace) -> str:
    window = min(300.0, args.minutes * 60.0 / 3)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(
        f"| {name} | {text} | {'meets' if ok else 'MISSES'} |"
        for name, (text, ok) in verdicts(s, window).items()
    )
    return (
        f"{MARKER}\n### Soak: {args.checks:,} HTTP checks every {args.interval:g} s with two "
        f"rules each, {args.minutes:g} minutes\n\n"
        f"Measured {stamp} on {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}, `python -m bench.soak --minutes {args.minutes:g}`; "
        f"{args.warmup:g} s warm-up, windows of {window / 60:.3g} minutes, a sample every "
        f"{args.sample:g} s ({len(s.samples)} samples), {s.runs_per_second:.0f} runs/s.\n\n"
        "| figure | measured | verdict |\n|---|---|---|\n"
        f"{rows}\n{MARKER}"
    )


def kill_summary(path: Path) -> str:
    """The figures of tests/reliability/test_kill.py's runs (SENTINEL_KILL_FIGURES lines)."""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    modes = Counter(r["mode"] for r in runs)
    dups = [r["duplicates"] for r in runs]
    sizes = sorted(w for r in runs for w in r.get("windows_ms", []))
    window = (
        f"; 2xx -> outbox updated: p50 {statistics.median(sizes):.1f} ms, "
        f"max {sizes[-1]:.1f} ms over {len(sizes)} notices"
        if sizes
        else ""
    )
    return (
        f"kill runs: {len(runs)} ({', '.join(f'{m} {n}' for m, n in sorted(modes.items()))}); "
        f"killed mid-send: {sum(r['killed_mid_send'] for r in runs)} "
        f"(mid-digest: {sum(r.get('killed_mid_digest', False) for r in runs)}); "
        f"killed while a `for` was pending: {sum(r['pending_at_kill'] for r in runs)}; "
        f"at-least-once duplicates: {sum(dups)} in {sum(d > 0 for d in dups)} runs; "
        f"max delay of a notice: {max((r['max_delay'] for r in runs), default=0.0):.2f} s"
        f"{window}"
    )


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 3 and sys.argv[1] == "--kill-summary":
        print(kill_summary(Path(sys.argv[2])))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0, help="measured time after warm-up")
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=360.0,
        help="seconds before measuring; longer than the rules' 5-minute window, which fills first",
    )
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs alone")
    parser.add_argument("--log", action="store_true", help="print the end of sentinel's log")
    args = parser.parse_args()
    soak = run(args)
    section = report(soak, args)
    print(section)
    if not args.no_report:
        write_section(section, MARKER, REPORT, empty="# Reliability\n")
    window = min(300.0, args.minutes * 60.0 / 3)
    return 0 if all(ok for _, ok in verdicts(soak, window).values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
