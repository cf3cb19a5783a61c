"""Benchmark: the status page at ``/`` with 10,000 checks.

A real :class:`~sentinel.daemon.Daemon` is built from a config of ``--checks``
TCP checks in 100 services (not started: nothing is probed). Each check gets
30 recent results, 1% of them failing, fed through the daemon's own sinks so
that ``up == 0`` fires an alert for each failing check; the SQLite store gets
90 days of ``uptime_daily`` rows per check and 20 incidents. Only the page's
routes are served (``add_page_routes``), on loopback, and an aiohttp client
times ``GET /`` (gzip, as a browser asks), after the uptime history is in
memory. The first view after start, while the history loads, is reported apart.

    python -m bench.status_page [--checks 10000] [--requests 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from bench.harness import measured, write_section
from sentinel.app.daemon import Daemon
from sentinel.clock import SystemClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.escalation.incidents import Incident
from sentinel.logs import Redactor
from sentinel.probes.results import Result, Sample
from sentinel.web.page import PAGE_SIZE, add_page_routes

REPORT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
MARKER = "<!-- bench:status_page -->"
BAR = 1.0  # seconds, slowest view
SERVICES = 100


def config_text(tmp: Path, checks: int) -> str:
    lines = [
        "server:",
        '  listen: "127.0.0.1:0"',
        "  status_page: {title: bench, allow_ack: true}",
        "storage:",
        f'  url: "sqlite:{tmp}/state.db"',
        "checks:",
    ]
    for i in range(checks):
        lines.append(
            f'  - {{name: c{i:05d}, type: tcp, target: "127.0.0.1:9", interval: 10s, '
            f"labels: {{service: svc{i % SERVICES:03d}}}}}"
        )
    lines += [
        "rules:",
        "  - {name: ServiceDown, match: {type: tcp}, expr: up == 0, severity: critical}",
    ]
    return "\n".join(lines) + "\n"


def feed(daemon: Daemon, checks: int, now: datetime) -> int:
    """30 runs a check through the daemon's sinks; every 100th check fails throughout."""
    failing = 0
    for i in range(checks):
        ok = i % 100 != 7
        failing += not ok
        for k in range(30):
            duration = 0.002 + 0.001 * ((i + k) % 7)
            result = Result(
                f"c{i:05d}",
                "tcp",
                ok,
                now - timedelta(seconds=10 * (30 - k)),
                duration,
                None if ok else "connection refused",
                (Sample("up", 1.0 if ok else 0.0), Sample("duration_seconds", duration)),
            )
            daemon.latest.record(result)
            daemon.recent.record(result)
            if k >= 28:
                daemon.rules.observe(result, daemon.clock.now())
    return failing


def fill_uptime(db: Path, checks: int, now: datetime) -> None:
    today = int(now.timestamp() // 86400)
    con = sqlite3.connect(db)
    with con:
        con.executemany(
            "INSERT INTO uptime_daily VALUES (?, ?, ?, ?, ?)",
            (
                (f"c{i:05d}", day, 8640 - (i + day) % 13, 8640, 30.0)
                for i in range(checks)
                for day in range(today - 89, today + 1)
                if (i + day) % 97  # a day here and there without data
            ),
        )
    con.close()


async def timed(http: aiohttp.ClientSession, path: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    async with http.get(path) as resp:
        body = await resp.text()
        assert resp.status == 200, resp.status
    return time.perf_counter() - started, len(body), body


async def run(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sentinel.yaml"
        path.write_text(config_text(Path(tmp), args.checks))
        config = load_config(path, {})
        clock = SystemClock()
        daemon = Daemon(config, Settings(config=str(path)), clock, {}, Redactor())
        await daemon.store.open()
        daemon.rules.configure(config)
        daemon.alerts.ack_key = b"bench-key"
        now = clock.now()
        failing = feed(daemon, args.checks, now)
        fill_uptime(Path(tmp) / "state.db", args.checks, now)
        for n in range(20):
            start = (now - timedelta(hours=5 * n + 1)).timestamp()
            await daemon.store.save_incident(
                Incident(
                    id=f"INC-bench-{n:02d}",
                    fingerprint=f"{n:016x}",
                    rule="ServiceDown",
                    check=f"c{n:05d}",
                    severity="critical",
                    title=f"c{n:05d} is down",
                    started_at=start,
                    resolved_at=None if n == 0 else start + 300,
                )
            )

        # As Daemon.start() does once the config and checks are in place.
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        app = web.Application()
        add_page_routes(app, daemon.facade)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        out: dict[str, float] = {"failing": failing}
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                loading = time.perf_counter()
                out["cold"], _, body = await timed(http, "/")
                out["cold_loading"] = "still loading" in body
                while "still loading" in body:
                    await asyncio.sleep(0.2)
                    _, _, body = await timed(http, "/")
                out["history_load"] = time.perf_counter() - loading
                for label, where in (
                    ("first", "/"),
                    ("last", f"/?page={args.checks // PAGE_SIZE}"),
                ):
                    times = []
                    for _ in range(args.requests):
                        seconds, size, body = await timed(http, where)
                        times.append(seconds)
                    assert "c0" in body
                    assert "<svg" in body
                    out[f"{label}_p50"] = statistics.median(times)
                    out[f"{label}_max"] = max(times)
                    out[f"{label}_kb"] = size / 1024
                calls = []
                for _ in range(5):
                    started = time.perf_counter()
                    daemon.status()
                    calls.append(time.perf_counter() - started)
                out["status_call"] = statistics.median(calls)
        finally:
            await runner.cleanup()
            await daemon.store.close()
    return out


def report(r: dict[str, float], args: argparse.Namespace) -> str:
    def ms(x: float) -> str:
        return f"{x * 1000:.0f} ms"

    worst = max(r["first_max"], r["last_max"])
    verdict = "meets" if worst < BAR else "MISSES"
    return (
        f"### Status page: {args.checks:,} checks, {SERVICES} services\n\n"
        + measured(
            "`python -m bench.status_page`: a real Daemon (not probing) with 30 recent runs a "
            f"check, {r['failing']:.0f} checks failing and as many alerts firing, 90 days of "
            f"uptime rows a check in SQLite, 20 incidents; {args.requests} sequential "
            "`GET` over loopback each, gzip"
        )
        + "\n\n"
        "| figure | measured | bar |\n|---|---|---|\n"
        f"| `GET /` (first {PAGE_SIZE} checks) p50 / max | {ms(r['first_p50'])} / "
        f"{ms(r['first_max'])} | < 1 s ({verdict}) |\n"
        f"| `GET /?page={args.checks // PAGE_SIZE}` (last page) p50 / max | "
        f"{ms(r['last_p50'])} / {ms(r['last_max'])} | < 1 s |\n"
        f"| page size (uncompressed) | {r['first_kb']:.0f} KiB | |\n"
        f"| of which `Daemon.status()` for all checks (median of 5) | {ms(r['status_call'])} | |\n"
        f"| first view after start | {ms(r['cold'])} "
        f"({'uptime history still loading' if r['cold_loading'] else 'history loaded'}) | |\n"
        f"| uptime history loaded into memory after | {r['history_load']:.1f} s "
        "(in the background) | |\n"
        + (
            "\nMost of a view is `Daemon.status()` (every check and alert as JSON-ready "
            "dicts), not the page's own rendering.\n"
            if r["status_call"] > r["first_p50"] / 2
            else ""
        )
    )


def write_report(section: str) -> None:
    write_section(f"{MARKER}\n{section}{MARKER}", MARKER, REPORT)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    r = asyncio.run(run(args))
    section = report(r, args)
    print(section)
    if not args.no_write:
        write_report(section)
    return 0 if max(r["first_max"], r["last_max"]) < BAR else 1


if __name__ == "__main__":
    raise SystemExit(main())
