"""Benchmark: an Alertmanager webhook arriving -> the first provider request.

sentinel runs as a real process with an ``alertmanager`` source whose critical alerts
page a webhook receiver at once; both ends are in this process, so one clock times
the whole trip. Two figures:

1. latency: ``--alerts`` webhooks of one new alert each, ``--spacing`` apart; for
   each, the POST leaving -> the receiver getting the page; bar p99 <= 50 ms;
2. a group of ``--group`` (1,000) new alerts in one webhook, ``--rounds`` times:
   POST -> sentinel's 200 (decided, saved in one transaction, escalations started);
   bar < 1 s; and the same group resent (Alertmanager's repeat_interval), which
   must page nobody.

    python -m bench.source_latency [--alerts 200] [--spacing 0.1] [--group 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.harness import free_port, measured, pct, publish

MARKER = "<!-- bench:source_latency -->"
TOKEN = "bench-source-token-0123456789"  # noqa: S105 (a made-up token for a local run)


class Receiver:
    """The provider fake: when the first page of each alert (its instance) arrived."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.requests = 0

    async def hook(self, request: web.Request) -> web.Response:
        now = time.time()
        body = await request.json()
        self.requests += 1
        alert = body.get("alert") or {}
        instance = (alert.get("labels") or {}).get("instance")
        if instance and body.get("kind") == "firing":
            self.at.setdefault(instance, now)
        return web.Response(status=204)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        return app


def write_config(path: Path, port: int, hook_port: int, db: Path) -> None:
    path.write_text(
        f"""
server: {{listen: "127.0.0.1:{port}"}}
storage: {{url: "sqlite:{db}"}}
sources:
  - {{name: prom, type: alertmanager, token: "{TOKEN}"}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{hook_port}/hook"}}
escalation:
  critical:
    - {{after: 0s, notify: [hook]}}
notifications:
  storm: {{threshold: 100000}}   # measure each alert's own first page, not digests
"""
    )


STARTED: dict[str, str] = {}  # instance -> its startsAt (Alertmanager keeps it on resends)


def group(instances: list[str], status: str = "firing") -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "version": "4",
        "status": status,
        "receiver": "sentinel",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "HighErrorRate",
                    "severity": "critical",
                    "instance": name,
                    "job": "api",
                },
                "annotations": {
                    "summary": f"High error rate on {name}",
                    "description": "The 5xx ratio is above 5% for 5 minutes.",
                    "runbook_url": "https://runbooks.example.com/HighErrorRate",
                },
                "startsAt": STARTED.setdefault(name, now),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28http_errors%5B5m%5D%29",
                "fingerprint": "",
            }
            for name in instances
        ],
    }


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> float:
    """Seconds from sending to sentinel's answer (which must be 200)."""
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    t0 = time.perf_counter()
    async with http.post(url, data=data, headers=headers) as resp:
        await resp.read()
        assert resp.status == 200, resp.status
    return time.perf_counter() - t0


async def until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return bool(condition())


async def run(args: argparse.Namespace) -> dict[str, float]:
    receiver = Receiver()
    runner = web.AppRunner(receiver.app(), access_log=None)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sentinel.yaml"
        write_config(config, port, hook_port, Path(tmp) / "s.db")
        log = (Path(tmp) / "sentinel.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sentinel", "run", "-c", str(config),
            env={**os.environ, "SENTINEL_LOG_LEVEL": "error"}, stdout=log, stderr=log,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/api/v1/sources/alertmanager/prom"
        try:
            async with aiohttp.ClientSession() as http:

                async def up() -> bool:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                            return resp.status == 200
                    return False

                for _ in range(300):
                    if await up():
                        break
                    await asyncio.sleep(0.05)
                for n in range(5):  # warm-up: first requests load what they use
                    await post(http, url, group([f"warm-{n}"]))
                await until(lambda: len(receiver.at) >= 5, 10)

                sent: dict[str, float] = {}
                answered: list[float] = []
                for n in range(args.alerts):
                    name = f"lat-{n}"
                    sent[name] = time.time()
                    answered.append(await post(http, url, group([name])))
                    await asyncio.sleep(args.spacing)
                await until(lambda: all(k in receiver.at for k in sent), 20)
                latency = [receiver.at[k] - t for k, t in sent.items() if k in receiver.at]

                taken: list[float] = []
                for r in range(args.rounds):
                    names = [f"g{r}-{i}" for i in range(args.group)]
                    taken.append(await post(http, url, group(names)))
                    await until(lambda names=names: all(k in receiver.at for k in names), 60)
                paged = receiver.requests
                resent = [await post(http, url, group([f"g0-{i}" for i in range(args.group)]))]
                await asyncio.sleep(2.0)  # anything a resend wrongly queued would be sent by now
                repaged = receiver.requests - paged
        finally:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 30)
            await runner.cleanup()
    return {
        "alerts": args.alerts,
        "received": len(latency),
        "p50": statistics.median(latency) * 1000,
        "p99": pct(latency, 0.99) * 1000,
        "max": max(latency) * 1000,
        "answer_p50": statistics.median(answered) * 1000,
        "answer_p99": pct(answered, 0.99) * 1000,
        "group": args.group,
        "rounds": args.rounds,
        "group_p50": statistics.median(taken),
        "group_max": max(taken),
        "resent": resent[0],
        "repaged": repaged,
    }


def report(r: dict[str, float], args: argparse.Namespace) -> str:
    ok = "meets" if r["p99"] <= 50 and r["received"] == r["alerts"] else "MISSES"
    ok_group = "meets" if r["group_max"] < 1.0 else "MISSES"
    return (
        f"{MARKER}\n### Inbound alerts: Alertmanager webhook -> first page\n\n"
        + measured(
            "sentinel as a process (SQLite store), Alertmanager's payload posted by the bench, "
            "the provider a webhook receiver on loopback, `make bench` (`bench/source_latency.py`)",
            load=True,
        )
        + "\n\n"
        "| figure | measured | bar |\n|---|---|---|\n"
        f"| pages received | {int(r['received'])} of {int(r['alerts'])} "
        f"(one alert per webhook, {args.spacing:g} s apart) | all |\n"
        f"| webhook sent -> provider request, p50 / p99 / max | {r['p50']:.1f} / "
        f"{r['p99']:.1f} / {r['max']:.1f} ms | p99 <= 50 ms ({ok}) |\n"
        f"| of which webhook sent -> sentinel's 200 (saved), p50 / p99 | "
        f"{r['answer_p50']:.1f} / {r['answer_p99']:.1f} ms | |\n"
        f"| {int(r['group'])} new alerts in one group -> 200 (saved, escalating), "
        f"p50 / max of {int(r['rounds'])} | {r['group_p50'] * 1000:.0f} / "
        f"{r['group_max'] * 1000:.0f} ms | < 1 s ({ok_group}) |\n"
        f"| the same {int(r['group'])} resent (repeat_interval) -> 200 | "
        f"{r['resent'] * 1000:.0f} ms, {int(r['repaged'])} pages | no page |\n"
        f"{MARKER}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=0.1)
    parser.add_argument("--group", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    return publish(parser, MARKER, run, report, passed)


def passed(r: dict[str, float], args: argparse.Namespace) -> bool:
    return r["received"] == r["alerts"] and r["group_max"] < 1.0 and r["repaged"] == 0


if __name__ == "__main__":
    raise SystemExit(main())
