"""Benchmark: 10,000 HTTP checks at a 10 s interval for 60 s against a local target.

Starts nginx (Debian's, when installed; otherwise a small aiohttp server in a
subprocess) on loopback, starts ``sentinel run`` as a real process, lets one
interval pass to warm up, then measures over a 60 s window:

- probes/s                       from sentinel_check_runs_total
- CPU seconds per 1,000 probes   from /proc/<pid>/stat (user + system)
- scheduler lateness p50 / p99   from sentinel_scheduler_lateness_seconds
                                 (interpolated inside histogram buckets)
- peak RSS                       VmHWM from /proc/<pid>/status

and writes the figures to docs/performance.md. Everything is bounded: the
run stops itself after the window and kills what it started.

    python -m bench.http_checks [--checks 10000] [--interval 10] [--window 60]
        [--store sqlite|postgresql|both]

``--store both`` measures on SQLite, then on PostgreSQL (a database made for
the run, dropped after), and compares CPU per 1,000 probes: sentinel's own on
SQLite against sentinel's plus the server backends' serving it (read from
/proc: the server must run on this machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from prometheus_client.parser import text_string_to_metric_families

from bench.harness import free_port, measured, write_section

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "performance.md"
BARS = {"cpu_per_1000": 0.5, "lateness_p99": 0.100, "rss_mb": 250.0}


def start_target(workdir: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx:
        conf = workdir / "nginx.conf"
        conf.write_text(
            textwrap.dedent(
                f"""
                worker_processes 1;
                daemon off;
                pid {workdir}/nginx.pid;
                error_log {workdir}/nginx-error.log warn;
                events {{ worker_connections 4096; }}
                http {{
                    access_log off;
                    keepalive_requests 1000000;
                    keepalive_timeout 120s;
                    client_body_temp_path {workdir};
                    proxy_temp_path {workdir};
                    fastcgi_temp_path {workdir};
                    uwsgi_temp_path {workdir};
                    scgi_temp_path {workdir};
                    server {{
                        listen 127.0.0.1:{port};
                        location / {{
                            default_type application/json;
                            return 200 '{{"status":"healthy"}}';
                        }}
                    }}
                }}
                """
            )
        )
        proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(workdir)])
        kind = "nginx"
    else:
        code = textwrap.dedent(
            f"""
            from aiohttp import web
            async def ok(_):
                return web.json_response({{"status": "healthy"}})
            app = web.Application()
            app.router.add_get("/{{tail:.*}}", ok)
            web.run_app(app, host="127.0.0.1", port={port}, access_log=None, print=None)
            """
        )
        proc = subprocess.Popen([sys.executable, "-c", code])
        kind = "aiohttp (nginx not installed)"
    wait_http(f"http://127.0.0.1:{port}/health", 15)
    return proc, port, kind


def wait_http(url: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=seconds) as resp:
                return str(resp.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def write_config(
    workdir: Path,
    target_port: int,
    listen_port: int,
    checks: int,
    interval: float,
    rules: bool,
    storage: str = "",
) -> Path:
    url = storage or f"sqlite:{workdir}/bench.db"
    lines = [
        f'server: {{listen: "127.0.0.1:{listen_port}"}}',
        f'storage: {{url: "{url}", history: 1d}}',
        "scheduler: {max_concurrency: 500}",
        "checks:",
    ]
    for i in range(checks):
        lines.append(
            f'  - {{name: c{i:05d}, type: http, url: "http://127.0.0.1:{target_port}/health?c={i}", '
            f"interval: {interval}s, timeout: 5s, expect: {{status: [200]}}}}"
        )
    if rules:  # two rules on every check: an instant comparison and a 5-minute window
        lines += [
            "rules:",
            "  - {name: Down, match: {type: http}, expr: up == 0, for: 1m}",
            "  - {name: Slow, match: {type: http}, expr: 'p95(duration_seconds[5m]) > 2s', for: 3m}",
        ]
    path = workdir / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = wait_http(f"http://127.0.0.1:{port}/metrics", 60)
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    return vm_mb(pid, "VmHWM")


def vm_mb(pid: int, name: str) -> float:
    """A memory figure of /proc/<pid>/status in MB: ``VmHWM`` (peak RSS), ``VmRSS``..."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus-style histogram_quantile over (upper bound, cumulative count) pairs."""
    total = buckets[-1][1]
    if total <= 0:
        return float("nan")
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / max(
                count - prev_count, 1e-9
            )
        prev_bound, prev_count = bound, count
    return prev_bound


def lateness_buckets(
    before: dict[str, dict[tuple[tuple[str, str], ...], float]],
    after: dict[str, dict[tuple[tuple[str, str], ...], float]],
) -> list[tuple[float, float]]:
    name = "sentinel_scheduler_lateness_seconds_bucket"
    rows = []
    for labels, value in after[name].items():
        le = float(dict(labels)["le"])
        rows.append((le, value - before[name].get(labels, 0.0)))
    return sorted(rows)


def runs(metrics: dict[str, dict[tuple[tuple[str, str], ...], float]]) -> tuple[float, float]:
    total = ok = 0.0
    for labels, value in metrics.get("sentinel_check_runs_total", {}).items():
        total += value
        if dict(labels).get("result") == "ok":
            ok += value
    return total, ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs alone")
    parser.add_argument("--rules", action="store_true", help="also evaluate two rules per check")
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgresql", "both"),
        default="sqlite",
        help="where sentinel keeps history (postgresql: a database made for the run, dropped)",
    )
    args = parser.parse_args()
    figures = {}
    for store in ("sqlite", "postgresql") if args.store == "both" else (args.store,):
        if store == "sqlite":
            result, target_kind = measure(args)
            print(format_result(result, args, target_kind))
            if not args.no_report:
                write_report(result, args, target_kind)
        else:
            from bench.pg_database import backend_cpu, fresh_database

            with fresh_database() as url:
                result, target_kind = measure(args, url, lambda: backend_cpu(url))
            print("On PostgreSQL (sentinel's own CPU here; the server's backends below):")
            print(format_result(result, args, target_kind))
            print(f"server backends: {result['server_per_1000']:.3f} CPU-s per 1,000 probes")
        figures[store] = result["cpu_per_1000"] + result["server_per_1000"]
    if len(figures) == 2:
        ratio = figures["postgresql"] / figures["sqlite"]
        print(
            f"CPU-s per 1,000 probes: sentinel on sqlite {figures['sqlite']:.3f}, "
            f"sentinel + postgresql {figures['postgresql']:.3f}: {ratio:.2f}x (bar: 1.25x)"
        )
    return 0


def measure(
    args: argparse.Namespace, storage: str = "", server_cpu: Callable[[], float] | None = None
) -> tuple[dict[str, float], str]:
    """One run of sentinel on ``storage`` (default: SQLite in a temporary directory);
    ``server_cpu`` reads the CPU seconds of the database server serving it."""
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
        workdir = Path(tmp)
        target, target_port, target_kind = start_target(workdir)
        listen = free_port()
        config = write_config(
            workdir, target_port, listen, args.checks, args.interval, args.rules, storage
        )
        log = (workdir / "sentinel.log").open("wb")
        daemon = start_sentinel(config, log)
        try:
            try:
                wait_http(f"http://127.0.0.1:{listen}/health", 60)
            except OSError:
                log.flush()
                print((workdir / "sentinel.log").read_text()[-3000:], file=sys.stderr)
                raise
            time.sleep(args.interval + 5)  # one full interval, so every check has started
            before = cpu_seconds(daemon.pid)
            s0 = time.monotonic()
            m0 = scrape(listen)
            # The window starts after the first scrape and ends before the second,
            # so the CPU figure is probing alone; a render is measured on its own.
            cpu0 = cpu_seconds(daemon.pid)
            server0 = server_cpu() if server_cpu else 0.0
            cpu_scrape = cpu0 - before
            t0 = time.monotonic()
            time.sleep(args.window)
            cpu1 = cpu_seconds(daemon.pid)
            server1 = server_cpu() if server_cpu else 0.0
            t1 = time.monotonic()
            s1 = time.monotonic()
            m1 = scrape(listen)
            rss = peak_rss_mb(daemon.pid)
        finally:
            stop_sentinel(daemon, 30)
            target.terminate()
            target.wait(10)
            log.close()
        (runs0, ok0), (runs1, ok1) = runs(m0), runs(m1)
        # Runs are counted between the two scrapes (s0..s1); CPU over the quiet
        # window inside them (t0..t1), so scale the runs to that window.
        rate = (runs1 - runs0) / (s1 - s0)
        probes = rate * (t1 - t0)
        failed = (runs1 - runs0) - (ok1 - ok0)
        cpu = cpu1 - cpu0
        buckets = lateness_buckets(m0, m1)
        result = {
            "probes_per_second": rate,
            "failed": failed,
            "cpu_per_1000": cpu / probes * 1000 if probes else float("nan"),
            "server_per_1000": (server1 - server0) / probes * 1000 if probes else float("nan"),
            "lateness_p50": quantile(0.5, buckets),
            "lateness_p99": quantile(0.99, buckets),
            "rss_mb": rss,
            "scrape_cpu": cpu_scrape,
        }
    return result, target_kind


def start_sentinel(config: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``sentinel run -c config`` as a child process, warnings only (JSON) to ``log``."""
    env = {**os.environ, "SENTINEL_LOG_LEVEL": "warning", "SENTINEL_LOG_FORMAT": "json"}
    return subprocess.Popen(
        [sys.executable, "-m", "sentinel", "run", "-c", str(config)],
        env=env,
        stdout=log,
        stderr=log,
    )


def stop_sentinel(daemon: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited after ``grace`` seconds."""
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(grace)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait(10)


def format_result(r: dict[str, float], args: argparse.Namespace, target_kind: str) -> str:
    def verdict(key: str) -> str:
        return "meets" if r[key] <= BARS[key] else "MISSES"

    return textwrap.dedent(
        f"""\
        | figure | measured | bar |
        |---|---|---|
        | probes/s | {r["probes_per_second"]:.0f} (failed in window: {r["failed"]:.0f}) | {args.checks / args.interval:.0f} expected |
        | CPU-s per 1,000 probes | {r["cpu_per_1000"]:.3f} | <= {BARS["cpu_per_1000"]} ({verdict("cpu_per_1000")}) |
        | lateness p50 | {r["lateness_p50"] * 1000:.1f} ms | |
        | lateness p99 | {r["lateness_p99"] * 1000:.1f} ms | <= {BARS["lateness_p99"] * 1000:.0f} ms ({verdict("lateness_p99")}) |
        | peak RSS | {r["rss_mb"]:.0f} MB | <= {BARS["rss_mb"]:.0f} MB ({verdict("rss_mb")}) |
        | one /metrics scrape of all checks | {r["scrape_cpu"]:.2f} CPU-s, probing included while it ran (outside the window) | |
        """
    )


def write_report(r: dict[str, float], args: argparse.Namespace, target_kind: str) -> None:
    marker = "<!-- bench:http_checks -->"
    section = (
        f"{marker}\n### HTTP checks: {args.checks:,} checks every {args.interval:g} s, "
        f"{args.window:g} s window\n\n"
        + measured(f"target {target_kind} on loopback, `make bench`")
        + f"\n\n{format_result(r, args, target_kind)}{marker}"
    )
    write_section(section, marker, REPORT)


if __name__ == "__main__":
    raise SystemExit(main())
