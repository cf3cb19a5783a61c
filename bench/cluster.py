"""Benchmark: the same HTTP load on one replica and on three, side by side.

3,000 HTTP checks every 10 s (``--checks``, ``--interval``) against a local aiohttp
target, with sentinel on PostgreSQL (a database made for each run, dropped after):
first one ``sentinel run``, then ``--replicas`` of them sharing the checks. Each
replica probes from its own loopback address (127.0.0.2, .3, ...), so the target
knows who probed what. The window is steady state: it starts when every replica
reports the same live set and the same shares (each sees all ``--replicas`` members,
the shares add up to ``--checks``), one full interval has passed since, and they still
all agree. Over a ``--window`` from then it reports:

- CPU-s per 1,000 probes, all replicas together plus the PostgreSQL server's
  backends serving them (from /proc; the server runs on this machine)
- checks per replica (each member's ``sentinel_cluster_owned_checks``)
- scheduler lateness p50 / p99 (all replicas' histograms merged)
- duplicate probes per interval (two probes of one check less than half an
  interval apart, from the target's log; how many of them came from two different
  replicas, i.e. two owners, rather than one replica probing twice) and the longest
  gap between two probes
- time to rebalance after a ``kill -9`` of one replica: from the kill until every
  check the killed replica probed has been probed by a survivor

A third run, one replica alone with one replica's share of the checks (``--checks``
divided by ``--replicas``), separates coordination from the price of a lighter
process: a process probing a third as often spends more CPU per probe (fewer events
per wake-up of the event loop), with or without a cluster. "Coordination" below is
the N members' CPU per 1,000 probes against that lone process's.

Bars (issue 16): CPU of N replicas <= 1.15x of one, checks per replica within 20%
of even, lateness p99 no worse than one replica's, 0 duplicates, rebalance <= 30 s.
Everything is bounded and stops what it started; the figures go to
docs/performance.md.

    python -m bench.cluster [--checks 3000] [--interval 10] [--window 40] [--replicas 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import free_port
from bench.http_checks import (
    cpu_seconds,
    lateness_buckets,
    quantile,
    runs,
    scrape,
    wait_http,
)
from bench.pg_database import backend_cpu, fresh_database

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "performance.md"
MARKER = "<!-- bench:cluster -->"
SOURCE = "127.0.0.{}"  # replica i probes from 127.0.0.(i + 2)
START = 180.0  # seconds the replicas may take to start and share the checks

TARGET = """
import json, time
from aiohttp import web
log = []
async def ok(request):
    log.append((time.time(), request.remote, request.query.get("c", "")))
    return web.json_response({"status": "healthy"})
async def dump(request):
    since = float(request.query.get("since", "0"))
    return web.Response(text=json.dumps([p for p in log if p[0] >= since]))
app = web.Application()
app.router.add_get("/__log", dump)
app.router.add_get("/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=PORT, access_log=None, print=None)
"""


@contextmanager
def target() -> Iterator[int]:
    """A local aiohttp server that answers 200 and logs (when, from, check)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", TARGET.replace("PORT", str(port))])
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 15)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def probes_since(port: int, since: float) -> list[tuple[float, str, str]]:
    text = wait_http(f"http://127.0.0.1:{port}/__log?since={since}", 60)
    return [(float(t), str(peer), str(c)) for t, peer, c in json.loads(text)]


def write_config(
    workdir: Path, name: str, port: int, listen: int, url: str, a: argparse.Namespace
) -> Path:
    lines = [
        f'server: {{listen: "127.0.0.1:{listen}"}}',
        f'storage: {{url: "{url}", history: 1d}}',
        "scheduler: {max_concurrency: 500}",
        "checks:",
    ]
    for i in range(a.checks):
        lines.append(
            f'  - {{name: c{i:05d}, type: http, url: "http://127.0.0.1:{port}/health?c={i}", '
            f"interval: {a.interval}s, timeout: 5s, expect: {{status: [200]}}}}"
        )
    path = workdir / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def owned(metrics: dict[str, dict[tuple[tuple[str, str], ...], float]]) -> dict[str, int]:
    return {
        dict(labels)["member"]: int(v)
        for labels, v in metrics.get("sentinel_cluster_owned_checks", {}).items()
    }


def steady(
    procs: list[tuple[subprocess.Popen[bytes], int, str]], replicas: int, checks: int
) -> dict[str, int] | None:
    """The shares every replica reports, when they all report the same ones: each has
    every replica live and the shares add up to the checks (else None)."""
    shares = [owned(scrape(listen)) for _, listen, _ in procs]
    first = shares[0]
    if len(first) != replicas or sum(first.values()) != checks:
        return None
    return first if all(s == first for s in shares) else None


def judge_probes(
    log: list[tuple[float, str, str]], interval: float, start: float, end: float
) -> tuple[int, int, float, int]:
    """(duplicates, those by two replicas, the longest gap between two probes of a
    check, checks probed)."""
    by_check: dict[str, list[tuple[float, str]]] = {}
    for at, peer, check in log:
        if start <= at < end:
            by_check.setdefault(check, []).append((at, peer))
    dupes, two, gap = 0, 0, 0.0
    for probes in by_check.values():
        probes.sort()
        for (a, peer_a), (b, peer_b) in itertools.pairwise(probes):
            if b - a < interval / 2:
                dupes += 1
                two += peer_a != peer_b
            gap = max(gap, b - a)
    return dupes, two, gap, len(by_check)


def scenario(replicas: int, a: argparse.Namespace, port: int) -> dict[str, float]:
    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
        workdir = Path(tmp)
        procs: list[tuple[subprocess.Popen[bytes], int, str]] = []
        logs = []
        try:
            for i in range(replicas):
                listen, name = free_port(), f"r{i + 1}"
                config = write_config(workdir, name, port, listen, url, a)
                env = {
                    **os.environ,
                    "SENTINEL_LOG_LEVEL": "warning",
                    "SENTINEL_LOG_FORMAT": "json",
                    "SENTINEL_MEMBER_ID": name,
                    "SENTINEL_PROBE_SOURCE_ADDRESS": SOURCE.format(i + 2),
                }
                out = (workdir / f"{name}.log").open("wb")
                logs.append(out)
                proc = subprocess.Popen(
                    [sys.executable, "-m", "sentinel", "run", "-c", str(config)],
                    env=env,
                    stdout=out,
                    stderr=out,
                )
                procs.append((proc, listen, name))
            deadline = time.monotonic() + START
            for _, listen, _ in procs:
                wait_http(
                    f"http://127.0.0.1:{listen}/health", max(1.0, deadline - time.monotonic())
                )
            while True:  # steady state: every replica reports the same live set and shares
                agreed = steady(procs, replicas, a.checks)
                if agreed is not None:
                    time.sleep(a.interval + 5)  # one full interval after the share settled
                    if steady(procs, replicas, a.checks) == agreed:
                        break  # and nobody's view changed meanwhile
                if time.monotonic() > deadline:
                    for out in logs:
                        out.flush()
                        tail = Path(out.name).read_text(errors="replace")[-1500:]
                        print(f"--- {out.name}\n{tail}", file=sys.stderr)
                    shares = [owned(scrape(listen)) for _, listen, _ in procs]
                    raise RuntimeError(f"replicas did not share the checks: {shares}")
                time.sleep(1)
            m0 = [scrape(listen) for _, listen, _ in procs]
            cpu0 = sum(cpu_seconds(p.pid) for p, _, _ in procs)
            server0 = backend_cpu(url)
            t0, wall0 = time.monotonic(), time.time()
            time.sleep(a.window)
            cpu1 = sum(cpu_seconds(p.pid) for p, _, _ in procs)
            server1 = backend_cpu(url)
            t1, wall1 = time.monotonic(), time.time()
            m1 = [scrape(listen) for _, listen, _ in procs]
            log = probes_since(port, wall0 - a.interval)
            dupes, two, gap, probed = judge_probes(log, a.interval, wall0, wall1)
            window_probes = sum(1 for at, _, _ in log if wall0 <= at < wall1)
            merged: dict[float, float] = {}
            for before, after in zip(m0, m1, strict=True):
                for le, n in lateness_buckets(before, after):
                    merged[le] = merged.get(le, 0.0) + n
            buckets = sorted(merged.items())
            total = sum(
                runs(after)[0] - runs(before)[0] for before, after in zip(m0, m1, strict=True)
            )
            result = {
                "probes": float(window_probes),
                "runs_counted": total,
                "probed_checks": float(probed),
                "cpu_sentinel_per_1000": (cpu1 - cpu0) / window_probes * 1000,
                "cpu_server_per_1000": (server1 - server0) / window_probes * 1000,
                "lateness_p50": quantile(0.5, buckets),
                "lateness_p99": quantile(0.99, buckets),
                "duplicates_per_interval": dupes / ((t1 - t0) / a.interval),
                "duplicates_two_owners": two / ((t1 - t0) / a.interval),
                "longest_gap": gap,
                "min_share": float(min(owned(m1[0]).values())),
                "max_share": float(max(owned(m1[0]).values())),
                "rebalance": float("nan"),
            }
            result["cpu_per_1000"] = result["cpu_sentinel_per_1000"] + result["cpu_server_per_1000"]
            if replicas > 1:
                result["rebalance"] = rebalance_after_kill(procs, port, a)
        finally:
            for proc, _, _ in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc, _, _ in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for out in logs:
                out.close()
    return result


def rebalance_after_kill(
    procs: list[tuple[subprocess.Popen[bytes], int, str]], port: int, a: argparse.Namespace
) -> float:
    """kill -9 the last replica; seconds until each check it probed is probed by another."""
    victim = SOURCE.format(len(procs) + 1)
    before = probes_since(port, time.time() - a.interval)
    theirs = {c for _, peer, c in before if peer == victim}
    proc = procs[-1][0]
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    killed = time.time()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        time.sleep(1)
        after = probes_since(port, killed)
        taken = {c: at for at, peer, c in after if peer != victim and c in theirs}
        if len(taken) == len(theirs):
            return max(taken.values()) - killed
    return float("inf")


def table(
    one: dict[str, float], many: dict[str, float], share: dict[str, float], a: argparse.Namespace
) -> str:
    n = a.replicas
    ratio = many["cpu_per_1000"] / one["cpu_per_1000"]
    coordination = many["cpu_per_1000"] / share["cpu_per_1000"]
    even = a.checks / n

    def ok(cond: bool) -> str:
        return "meets" if cond else "MISSES"

    spread = max(abs(many["min_share"] - even), abs(many["max_share"] - even)) / even
    return textwrap.dedent(
        f"""\
        | figure | 1 replica | {n} replicas | bar |
        |---|---|---|---|
        | probes in the window | {one["probes"]:.0f} | {many["probes"]:.0f} | {a.checks * a.window / a.interval:.0f} expected |
        | CPU-s per 1,000 probes, sentinel | {one["cpu_sentinel_per_1000"]:.3f} | {many["cpu_sentinel_per_1000"]:.3f} | |
        | CPU-s per 1,000 probes, PostgreSQL backends | {one["cpu_server_per_1000"]:.3f} | {many["cpu_server_per_1000"]:.3f} | |
        | CPU-s per 1,000 probes, total | {one["cpu_per_1000"]:.3f} | {many["cpu_per_1000"]:.3f} ({ratio:.2f}x) | <= 1.15x ({ok(ratio <= 1.15)}) |
        | the same, one replica alone with one share ({a.checks // n:,} checks) | {share["cpu_per_1000"]:.3f} | {many["cpu_per_1000"]:.3f} ({coordination:.2f}x: coordination) | |
        | checks per replica | {one["max_share"]:.0f} | {many["min_share"]:.0f} to {many["max_share"]:.0f} ({spread:.0%} from even) | within 20% ({ok(spread <= 0.2)}) |
        | lateness p50 | {one["lateness_p50"] * 1000:.1f} ms | {many["lateness_p50"] * 1000:.1f} ms | |
        | lateness p99 | {one["lateness_p99"] * 1000:.1f} ms | {many["lateness_p99"] * 1000:.1f} ms | no worse than one ({ok(many["lateness_p99"] <= max(one["lateness_p99"] * 1.1, one["lateness_p99"] + 0.005))}) |
        | duplicate probes per interval (by two replicas) | {one["duplicates_per_interval"]:.1f} | {many["duplicates_per_interval"]:.1f} ({many["duplicates_two_owners"]:.1f}) | 0 ({ok(many["duplicates_per_interval"] == 0)}) |
        | longest gap between two probes of a check | {one["longest_gap"]:.1f} s | {many["longest_gap"]:.1f} s | <= 2 intervals |
        | all of a `kill -9`ed replica's checks probed by the others | | {many["rebalance"]:.1f} s | <= 30 s ({ok(many["rebalance"] <= 30)}) |
        """
    )


def write_report(text: str, a: argparse.Namespace) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    section = (
        f"{MARKER}\n## Checks across replicas (`python -m bench.cluster`, in `make bench`)\n\n"
        f"{a.checks:,} HTTP checks every {a.interval:g} s, 1 replica against {a.replicas}, "
        f"{a.window:g} s window in steady state. Measured {stamp} on {os.cpu_count()} cores "
        f"(shared with other work; load average {load} at the end), Python "
        f"{platform.python_version()}, PostgreSQL on this machine, aiohttp target on "
        f"loopback.\n\n{text}{MARKER}"
    )
    body = REPORT.read_text() if REPORT.exists() else "# Performance\n\n"
    if MARKER in body:
        head, _, rest = body.partition(MARKER)
        _, _, tail = rest.partition(MARKER)
        body = head + section + tail
    else:
        body = body.rstrip("\n") + "\n\n" + section + "\n"
    REPORT.write_text(body)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=40.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs alone")
    a = parser.parse_args()
    with target() as port:
        one = scenario(1, a, port)
        many = scenario(a.replicas, a, port)
        share = scenario(
            1, argparse.Namespace(**{**vars(a), "checks": a.checks // a.replicas}), port
        )
    text = table(one, many, share, a)
    print(text)
    if not a.no_report:
        write_report(text, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
