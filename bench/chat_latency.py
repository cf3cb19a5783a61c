"""Benchmark: how fast a page reaches Teams, Discord and Mattermost.

As :mod:`bench.notify_latency`, with the chat channels: sentinel runs as a real
process with ``--checks`` HTTP checks (interval 1 s, ``up == 0`` for 2 s)
whose alerts page a webhook receiver (for the firing time, ``alert.since``) and
a Teams, a Discord and a Mattermost receiver, all local. The targets fail one
after another ``--spacing`` apart; for each alert and channel this measures
firing -> provider received; bar p99 <= 100 ms.

Discord's channel paces itself at one message every 2 s after a burst of five
(Discord's 30 a minute per channel), Teams and Mattermost at one a second, so
the default spacing (2.1 s) measures sentinel, not those queues.

    python -m bench.chat_latency [--checks 20] [--spacing 2.1]
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

MARKER = "<!-- bench:chat_latency -->"
CHANNELS = ("teams", "discord", "mattermost")


def _check_of(pairs: list[tuple[str, str]]) -> str:
    return next((v for k, v in pairs if k == "Check"), "")


class Peers:
    """The targets the bench fails, the webhook receiver and the three chat receivers."""

    def __init__(self, checks: int) -> None:
        self.checks = checks
        self.failing: set[int] = set()
        self.since: dict[str, float] = {}  # check -> firing time, from the webhook body
        self.at: dict[str, dict[str, float]] = {c: {} for c in CHANNELS}  # channel -> check -> t
        self.all_in = asyncio.Event()

    def _got(self, channel: str, check: str, now: float) -> None:
        if check:
            self.at[channel].setdefault(check, now)
        if all(len(v) >= self.checks for v in self.at.values()) and len(self.since) >= self.checks:
            self.all_in.set()

    async def health(self, request: web.Request) -> web.Response:
        failing = int(request.match_info["i"]) in self.failing
        return web.Response(status=503 if failing else 200, text="ok")

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        alert = body.get("alert") or {}
        if body.get("kind") == "firing":
            self.since.setdefault(str(alert["check"]), float(alert["since"]))
        return web.Response(status=204)

    async def teams(self, request: web.Request) -> web.Response:
        now = time.time()
        card: Any = (await request.json())["attachments"][0]["content"]
        facts = [b for b in card["body"] if b["type"] == "FactSet"]
        pairs = [(f["title"], f["value"]) for f in facts[0]["facts"]] if facts else []
        self._got("teams", _check_of(pairs), now)
        return web.Response(status=202)

    async def discord(self, request: web.Request) -> web.Response:
        now = time.time()
        embed = (await request.json())["embeds"][0]
        self._got(
            "discord", _check_of([(f["name"], f["value"]) for f in embed.get("fields", [])]), now
        )
        return web.json_response({"id": str(int(now * 1000))})

    async def mattermost(self, request: web.Request) -> web.Response:
        now = time.time()
        att = (await request.json())["attachments"][0]
        self._got(
            "mattermost", _check_of([(f["title"], f["value"]) for f in att.get("fields", [])]), now
        )
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/h/{i}", self.health)
        app.router.add_post("/hook", self.hook)
        app.router.add_post("/teams", self.teams)
        app.router.add_post("/api/webhooks/1/token", self.discord)
        app.router.add_post("/hooks/key", self.mattermost)
        return app


def channels(peer: int) -> dict[str, str]:
    base = f"http://127.0.0.1:{peer}"
    return {
        "hook": f'{{type: webhook, url: "{base}/hook"}}',
        "teams": f'{{type: teams, webhook_url: "{base}/teams?sig=s"}}',
        "discord": f'{{type: discord, webhook_url: "{base}/api/webhooks/1/token"}}',
        "mattermost": f'{{type: mattermost, webhook_url: "{base}/hooks/key"}}',
    }


async def run(args: argparse.Namespace) -> dict[str, list[float]]:
    peers = Peers(args.checks)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sentinel.yaml"
        async with serve(peers.app()) as peer_port:
            chats = channels(peer_port)
            write_config(config, free_port(), peer_port, args.checks, chats, list(chats))
            async with sentinel(config):
                await fail_in_turn(peers, args)
    return {
        c: [t - peers.since[check] for check, t in got.items() if check in peers.since]
        for c, got in peers.at.items()
    }


def report(r: dict[str, list[float]], args: argparse.Namespace) -> str:
    rows = []
    for c in CHANNELS:
        ms = [x * 1000 for x in r[c]] or [float("nan")]
        ok = "meets" if len(r[c]) == args.checks and pct(ms, 0.99) <= 100 else "MISSES"
        rows.append(
            f"| firing -> {c} received ({len(r[c])} of {args.checks}), p50 / p99 | "
            f"{statistics.median(ms):.1f} / {pct(ms, 0.99):.1f} ms | p99 <= 100 ms ({ok}) |"
        )
    return (
        f"{MARKER}\n### Chat latency: {args.checks} alerts, one every {args.spacing:g} s\n\n"
        + measured("sentinel as a process, receivers on loopback, `make bench`")
        + "\n\n"
        "| figure | measured | bar |\n|---|---|---|\n" + "\n".join(rows) + f"\n{MARKER}"
    )


def main() -> int:
    parser = paced(checks=20, spacing=2.1)
    return publish(parser, MARKER, run, report, passed)


def passed(r: dict[str, list[float]], args: argparse.Namespace) -> bool:
    return all(len(v) == args.checks for v in r.values())


if __name__ == "__main__":
    raise SystemExit(main())
