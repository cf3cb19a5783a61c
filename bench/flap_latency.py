"""Benchmark: a check going down and up every few seconds is paged every time.

sentinel runs as a real process with its default ``notifications.storm`` and
one HTTP check (interval 1 s, rule ``up == 0`` for 2 s, critical) against a
target in this process; the alert's only step pages a local webhook receiver.
The target fails ``--down`` seconds of every ``--period`` (5 of 10) for
``--duration`` (2 minutes): below the flap detector's threshold (about 4
changes in its 21 results), so each outage is an alert of its own, and one
alert is never a storm. For each outage this measures:

- outage -> page: from the target failing to the webhook receiving the
  ``firing`` notice (or a digest that lists it as fired); bar: every outage
  paged within interval + for + 1 s = 4 s;
- recovery -> resolution: from the target answering again to the ``resolved``
  notice.

    python -m bench.flap_latency [--duration 120] [--period 10] [--down 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.harness import FOR, INTERVAL, free_port, measured, pct, sentinel, serve, write_section

MARKER = "<!-- bench:flap_latency -->"
BAR = INTERVAL + FOR + 1.0


class Peers:
    """The target the bench switches down and up, and the webhook receiver."""

    def __init__(self) -> None:
        self.down = False
        self.pages: list[float] = []  # when a firing notice (or a digest firing it) arrived
        self.resolutions: list[float] = []
        self.kinds: list[str] = []

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=503 if self.down else 200, text="ok")

    async def hook(self, request: web.Request) -> web.Response:
        now = time.time()
        body: dict[str, Any] = await request.json()
        kind = str(body.get("kind"))
        self.kinds.append(kind)
        folded = {str(e.get("kind")) for e in body.get("entries") or ()}
        if kind == "firing" or (kind == "digest" and ("firing" in folded or not folded)):
            self.pages.append(now)
        if kind == "resolved" or (kind == "digest" and "resolved" in folded):
            self.resolutions.append(now)
        return web.Response(status=204)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_post("/hook", self.hook)
        return app


def write_config(path: Path, port: int, peer: int, db: Path) -> None:
    path.write_text(
        f'server: {{listen: "127.0.0.1:{port}"}}\n'
        f'storage: {{url: "sqlite:{db}"}}\n'
        "checks:\n"
        f'  - {{name: api, type: http, url: "http://127.0.0.1:{peer}/health", '
        f"interval: {INTERVAL:g}s, timeout: 500ms}}\n"
        "rules:\n"
        f"  - {{name: ServiceDown, match: {{type: http}}, expr: up == 0, for: {FOR:g}s, "
        "severity: critical}\n"
        "channels:\n"
        f'  hook: {{type: webhook, url: "http://127.0.0.1:{peer}/hook"}}\n'
        "escalation:\n"
        "  critical: [{after: 0s, notify: [hook]}]\n"
        # notifications.storm left at its defaults: that is what is measured
    )


def first_after(times: list[float], start: float, end: float) -> float | None:
    return min((t for t in times if start <= t < end), default=None)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    peers = Peers()
    outages: list[tuple[float, float]] = []  # (went down, came back)
    with tempfile.TemporaryDirectory() as tmp:
        config, log = Path(tmp) / "sentinel.yaml", Path(tmp) / "sentinel.log"
        async with serve(peers.app()) as peer_port:
            write_config(config, free_port(), peer_port, Path(tmp) / "s.db")
            async with sentinel(config, log=log, tail=args.log):
                await asyncio.sleep(args.warmup)
                for _ in range(int(args.duration // args.period)):
                    peers.down, went = True, time.time()
                    await asyncio.sleep(args.down)
                    peers.down, back = False, time.time()
                    outages.append((went, back))
                    await asyncio.sleep(args.period - args.down)
                await asyncio.sleep(BAR)  # the last resolution
    paged, resolved = [], []
    for i, (went, back) in enumerate(outages):
        nxt = outages[i + 1][0] if i + 1 < len(outages) else float("inf")
        page = first_after(peers.pages, went, nxt)
        if page is not None:
            paged.append(page - went)
        done = first_after(peers.resolutions, back, nxt)
        if done is not None:
            resolved.append(done - back)
    return {
        "outages": len(outages),
        "paged": len(paged),
        "in_bar": sum(1 for x in paged if x <= BAR),
        "page_p50": statistics.median(paged) if paged else float("nan"),
        "page_max": max(paged, default=float("nan")),
        "resolved": len(resolved),
        "resolved_p50": statistics.median(resolved) if resolved else float("nan"),
        "resolved_max": max(resolved, default=float("nan")),
        "page_p90": pct(paged, 0.9) if paged else float("nan"),
        "digests": peers.kinds.count("digest"),
    }


def report(r: dict[str, Any], args: argparse.Namespace) -> str:
    ok = "meets" if r["in_bar"] == r["outages"] > 0 else "MISSES"
    return (
        f"{MARKER}\n### Flapping target: down {args.down:g} s of every {args.period:g} s "
        f"for {args.duration:g} s\n\n"
        + measured(
            "`python -m bench.flap_latency`: sentinel as a process with the default "
            "`notifications.storm`, one HTTP check (interval 1 s, `up == 0` for 2 s), a webhook "
            "on step 0, target and receiver on loopback"
        )
        + "\n\n"
        "| figure | measured | bar |\n|---|---|---|\n"
        f"| outages paged | {r['paged']} of {r['outages']}, {r['in_bar']} within {BAR:g} s "
        f"| all within interval + for + 1 s = {BAR:g} s ({ok}) |\n"
        f"| outage -> page, p50 / p90 / max | {r['page_p50']:.2f} / {r['page_p90']:.2f} / "
        f"{r['page_max']:.2f} s | <= {BAR:g} s |\n"
        f"| recovery -> resolution, p50 / max ({r['resolved']} told) | "
        f"{r['resolved_p50']:.2f} / {r['resolved_max']:.2f} s | |\n"
        f"| digests received | {r['digests']} | 0: one alert is never a storm |\n"
        f"{MARKER}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of flapping")
    parser.add_argument("--period", type=float, default=10.0, help="seconds of one down+up")
    parser.add_argument("--down", type=float, default=5.0, help="seconds down in each period")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--log", action="store_true", help="print the end of sentinel's log")
    args = parser.parse_args()
    if not 0 < args.down < args.period <= args.duration:
        parser.error("need 0 < --down < --period <= --duration")
    r = asyncio.run(run(args))
    section = report(r, args)
    print(section)
    if not args.no_write:
        write_section(section, MARKER)
    return 0 if r["in_bar"] == r["outages"] > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
