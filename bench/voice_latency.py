"""Benchmark: how fast a page becomes a phone call, and a keypress an acknowledgement.

sentinel runs as a real process with ``--checks`` HTTP checks against a target in
this process, each alert paging a ``type: voice`` channel (Twilio Calls fake) and
a webhook receiver (whose body carries the firing time, ``alert.since``). The
targets fail one after another (``--spacing`` apart); for each alert:

- firing -> Calls.json received: bar p99 <= 100 ms;
- keypress "1" (signed as Twilio signs it) -> TwiML answer, the alert acknowledged.

Twilio places about one call a second per account, and the channel paces itself
so (``min_interval``, bursts of 5): ``--spacing`` below 1 s measures that queue.
The bench sets ``per_number: 0s`` because every call goes to one test number;
the one-call-a-number-a-minute limit is a policy, not latency.

    python -m bench.voice_latency [--checks 40] [--spacing 1.2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from bench.harness import (
    fail_in_turn,
    free_port,
    measured,
    paced,
    pct,
    publish,
    sentinel,
    serve,
    write_config,
)

MARKER = "<!-- bench:voice_latency -->"
SID, TOKEN = "AC" + "0" * 32, "bench-auth-token"


class Peers:
    def __init__(self, checks: int) -> None:
        self.failing: dict[int, float] = {}
        self.since: dict[str, float] = {}  # fingerprint -> firing time (webhook body)
        self.call_at: dict[str, float] = {}
        self.actions: dict[str, str] = {}  # fingerprint -> the Gather's action URL
        self.checks = checks
        self.all_in = asyncio.Event()

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=503 if int(request.match_info["i"]) in self.failing else 200)

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        alert = body.get("alert") or {}
        if body.get("kind") == "firing" and alert.get("fingerprint"):
            self.since.setdefault(str(alert["fingerprint"]), float(alert["since"]))
        return web.Response(status=204)

    async def call(self, request: web.Request) -> web.Response:
        now = time.time()
        form = await request.post()
        action = str(form.get("StatusCallback", "")).removesuffix("/status")
        fp = action.split("/")[-2] if action else ""
        if fp and fp not in self.call_at:
            self.call_at[fp], self.actions[fp] = now, action
            if len(self.call_at) >= self.checks:
                self.all_in.set()
        return web.json_response({"sid": f"CA{len(self.call_at):032d}"}, status=201)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/h/{i}", self.health)
        app.router.add_post("/hook", self.hook)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self.call)
        return app


def channels(peer: int) -> dict[str, str]:
    return {
        "hook": f'{{type: webhook, url: "http://127.0.0.1:{peer}/hook"}}',
        "phone": f'{{type: voice, account_sid: "{SID}", auth_token: "{TOKEN}", '
        f'from: "+15550109999", to: ["+15550100001"], per_number: 0s, '
        f'api_url: "http://127.0.0.1:{peer}"}}',
    }


async def press_one(actions: dict[str, str]) -> list[float]:
    """Each call's keypress "1", one after another; seconds until each answer."""
    out: list[float] = []
    async with aiohttp.ClientSession() as http:
        for fp, url in actions.items():
            form = {"CallSid": "CA1", "To": "+15550100001", "Digits": "1"}
            sig = RequestValidator(TOKEN).compute_signature(url, form)
            start = time.perf_counter()
            async with http.post(url, data=form, headers={"X-Twilio-Signature": sig}) as r:
                body = await r.text()
            out.append(time.perf_counter() - start)
            if "Acknowledged." not in body:
                raise SystemExit(f"keypress for {fp} not acknowledged: {r.status} {body}")
    return out


async def run(args: argparse.Namespace) -> dict[str, float]:
    peers = Peers(args.checks)
    with tempfile.TemporaryDirectory() as tmp:
        config, log = Path(tmp) / "sentinel.yaml", Path(tmp) / "sentinel.log"
        async with serve(peers.app()) as peer_port:
            write_config(
                config, free_port(), peer_port, args.checks, channels(peer_port), ["hook", "phone"]
            )
            async with sentinel(config, log=log):
                await fail_in_turn(peers, args)
                acks = await press_one(peers.actions)
    calls = [peers.call_at[fp] - peers.since[fp] for fp in peers.call_at if fp in peers.since]
    return {
        "alerts": float(args.checks),
        "calls": float(len(calls)),
        "call_p50": statistics.median(calls) * 1000,
        "call_p99": pct(calls, 0.99) * 1000,
        "ack_p50": statistics.median(acks) * 1000,
        "ack_p99": pct(acks, 0.99) * 1000,
    }


def report(r: dict[str, float], args: argparse.Namespace) -> str:
    ok = "meets" if r["call_p99"] <= 100 else "MISSES"
    return (
        f"{MARKER}\n### Voice calls: {int(r['alerts'])} alerts, one every {args.spacing:g} s\n\n"
        + measured("sentinel as a process, Twilio Calls fake on loopback, `make bench`")
        + "\n\n"
        "| figure | measured | bar |\n|---|---|---|\n"
        f"| calls placed | {int(r['calls'])} of {int(r['alerts'])} | all |\n"
        f"| firing -> Calls.json received, p50 / p99 | {r['call_p50']:.1f} / "
        f"{r['call_p99']:.1f} ms | p99 <= 100 ms ({ok}) |\n"
        f"| signed keypress 1 -> acknowledged answer, p50 / p99 | {r['ack_p50']:.1f} / "
        f"{r['ack_p99']:.1f} ms | none |\n"
        f"{MARKER}"
    )


def main() -> int:
    parser = paced(checks=40, spacing=1.2)
    return publish(parser, MARKER, run, report, lambda r, _: r["calls"] == r["alerts"])


if __name__ == "__main__":
    raise SystemExit(main())
