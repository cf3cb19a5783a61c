"""Benchmark: how fast a page leaves sentinel.

sentinel runs as a real process with ``--checks`` HTTP checks (interval 1 s,
rule ``up == 0`` for 2 s, critical) against a target in this process. Every
check's alert pages a webhook receiver, a PagerDuty fake, an ntfy topic and an
SMTP server (aiosmtpd), all local, and a Telegram bot API fake when
``--spacing`` is 3 s or more (Telegram's channel sends 20 a minute). The
targets are switched to failing one after another (``--spacing`` apart), and
for each alert this measures:

- firing -> provider: from the alert becoming firing (``alert.since`` in the
  webhook body, sentinel's own clock) to each fake receiving its request;
  bar p99 <= 100 ms;
- end to end: from the target failing to the first page; bar <= interval +
  for + 1 s = 4 s.

PagerDuty's channel sends at most two events a second (its documented 120 a
minute), so ``--spacing`` below 0.5 s measures that queue, not sentinel.

    python -m bench.notify_latency [--checks 40] [--spacing 0.6]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.harness import (
    FOR,
    INTERVAL,
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

MARKER = "<!-- bench:notify_latency -->"
TELEGRAM_SPACING = 3.0  # its channel paces at 20 a minute: closer alerts measure the queue
TG_TOKEN = "123456:" + "A" * 35
CHECK = re.compile(r"ServiceDown c(\d+)")


class Peers:
    """The target whose health the bench flips, and the two receivers."""

    def __init__(self, checks: int) -> None:
        self.failing: dict[int, float] = {}  # check index -> when it started failing
        self.since: dict[str, float] = {}  # fingerprint -> firing time from the webhook body
        self.check_of: dict[str, int] = {}
        self.hook_at: dict[str, float] = {}
        self.pd_at: dict[str, float] = {}
        self.checks = checks
        self.all_in = asyncio.Event()
        # provider -> check index -> when its first notice arrived (ntfy, smtp, telegram)
        self.more: dict[str, dict[int, float]] = {"ntfy": {}, "smtp": {}}

    def _count(self) -> None:
        counts = [len(self.hook_at), len(self.pd_at), *map(len, self.more.values())]
        if min(counts) >= self.checks:
            self.all_in.set()

    def _arrived(self, provider: str, text: str, at: float) -> None:
        """The first notice naming a check is its firing one."""
        m = CHECK.search(text)
        if m is not None:
            self.more[provider].setdefault(int(m.group(1)), at)
            self._count()

    async def ntfy(self, request: web.Request) -> web.Response:
        now = time.time()
        await request.read()
        self._arrived("ntfy", request.headers.get("Title", ""), now)
        return web.json_response({"id": "x", "event": "message"})

    async def telegram(self, request: web.Request) -> web.Response:
        now = time.time()
        body = await request.json()
        self._arrived("telegram", str(body.get("text", "")), now)
        result = {"message_id": 1, "chat": {"id": -1}}
        return web.json_response({"ok": True, "result": result})

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.time()
        raw = bytes(envelope.original_content or b"")
        subject = next((ln for ln in raw.split(b"\r\n") if ln.startswith(b"Subject:")), b"")
        self._arrived("smtp", subject.decode("utf-8", "replace"), now)
        return "250 OK"

    async def health(self, request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        return web.Response(status=503 if i in self.failing else 200, text="ok")

    async def hook(self, request: web.Request) -> web.Response:
        now = time.time()
        body = await request.json()
        alert = body.get("alert") or {}
        fp = str(alert.get("fingerprint", ""))
        if body.get("kind") == "firing" and fp and fp not in self.hook_at:
            self.hook_at[fp] = now
            self.since[fp] = float(alert["since"])
            self.check_of[fp] = int(str(alert["check"]).removeprefix("c"))
            self._count()
        return web.Response(status=204)

    async def enqueue(self, request: web.Request) -> web.Response:
        now = time.time()
        event = await request.json()
        fp = str(event.get("dedup_key", ""))
        if event.get("event_action") == "trigger" and fp not in self.pd_at:
            self.pd_at[fp] = now
            self._count()
        return web.json_response({"status": "success", "dedup_key": fp}, status=202)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/h/{i}", self.health)
        app.router.add_post("/hook", self.hook)
        app.router.add_post("/v2/enqueue", self.enqueue)
        app.router.add_post("/ntfy/{topic}", self.ntfy)
        app.router.add_post(f"/bot{TG_TOKEN}/sendMessage", self.telegram)
        return app


def channels(peer: int, smtp: int) -> dict[str, str]:
    return {
        "hook": f'{{type: webhook, url: "http://127.0.0.1:{peer}/hook"}}',
        "pagerduty": f'{{type: pagerduty, routing_key: "{"k" * 32}", '
        f'api_url: "http://127.0.0.1:{peer}"}}',
        "push": f'{{type: ntfy, url: "http://127.0.0.1:{peer}/ntfy/bench"}}',
        "mail": f"{{type: smtp, host: 127.0.0.1, port: {smtp}, tls: none, "
        "from: s@example.com, to: [ops@example.com]}",
        "chat": f'{{type: telegram, token: "{TG_TOKEN}", chat_id: -1, '
        f'api_url: "http://127.0.0.1:{peer}"}}',
    }


async def run(args: argparse.Namespace) -> dict[str, float]:
    peers = Peers(args.checks)
    telegram = args.spacing >= TELEGRAM_SPACING
    if telegram:
        peers.more["telegram"] = {}
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(lambda: SMTP(peers), "127.0.0.1", 0)
    smtp_port = int(smtp.sockets[0].getsockname()[1])
    with tempfile.TemporaryDirectory() as tmp:
        config, log = Path(tmp) / "sentinel.yaml", Path(tmp) / "sentinel.log"
        async with serve(peers.app()) as peer_port:
            notify = ["hook", "pagerduty", "push", "mail"] + (["chat"] if telegram else [])
            chans = channels(peer_port, smtp_port)
            write_config(config, free_port(), peer_port, args.checks, chans, notify)
            try:
                async with sentinel(config, log=log, tail=args.log):
                    await fail_in_turn(peers, args)
            finally:
                smtp.close()
    hook = [peers.hook_at[fp] - peers.since[fp] for fp in peers.hook_at]
    pd = [peers.pd_at[fp] - peers.since[fp] for fp in peers.pd_at if fp in peers.since]
    e2e = [
        min(peers.hook_at[fp], peers.pd_at.get(fp, float("inf")))
        - peers.failing[peers.check_of[fp]]
        for fp in peers.hook_at
    ]
    fired = {peers.check_of[fp]: peers.since[fp] for fp in peers.since}
    more: dict[str, float] = {}
    for provider, seen in peers.more.items():
        waits = [at - fired[i] for i, at in seen.items() if i in fired]
        more[f"{provider}_received"] = float(len(waits))
        more[f"{provider}_p50"] = statistics.median(waits) * 1000 if waits else float("nan")
        more[f"{provider}_p99"] = pct(waits, 0.99) * 1000 if waits else float("nan")
    return more | {
        "alerts": float(args.checks),
        "hook_received": float(len(hook)),
        "pd_received": float(len(pd)),
        "hook_p50": statistics.median(hook) * 1000,
        "hook_p99": pct(hook, 0.99) * 1000,
        "pd_p50": statistics.median(pd) * 1000,
        "pd_p99": pct(pd, 0.99) * 1000,
        "e2e_p50": statistics.median(e2e),
        "e2e_max": max(e2e),
    }


def report(r: dict[str, float], args: argparse.Namespace) -> str:
    bar_e2e = INTERVAL + FOR + 1.0
    ok = "meets" if r["hook_p99"] <= 100 and r["pd_p99"] <= 100 else "MISSES"
    ok_e2e = "meets" if r["e2e_max"] <= bar_e2e else "MISSES"
    return (
        f"{MARKER}\n### Notification latency: {int(r['alerts'])} alerts, one every "
        f"{args.spacing:g} s\n\n"
        + measured("sentinel as a process, receivers on loopback, `make bench`")
        + "\n\n"
        "| figure | measured | bar |\n|---|---|---|\n"
        f"| pages received (webhook / PagerDuty) | {int(r['hook_received'])} / "
        f"{int(r['pd_received'])} of {int(r['alerts'])} | all |\n"
        f"| firing -> webhook received, p50 / p99 | {r['hook_p50']:.1f} / {r['hook_p99']:.1f} ms "
        f"| p99 <= 100 ms ({ok}) |\n"
        f"| firing -> PagerDuty received, p50 / p99 | {r['pd_p50']:.1f} / {r['pd_p99']:.1f} ms "
        f"| p99 <= 100 ms |\n"
        + "".join(
            f"| firing -> {name} received ({int(r[f'{key}_received'])} of {int(r['alerts'])}), "
            f"p50 / p99 | {r[f'{key}_p50']:.1f} / {r[f'{key}_p99']:.1f} ms | p99 <= 100 ms |\n"
            for key, name in (("ntfy", "ntfy"), ("smtp", "SMTP"), ("telegram", "Telegram"))
            if f"{key}_received" in r
        )
        + f"| target fails -> first page, p50 / max | {r['e2e_p50']:.2f} / {r['e2e_max']:.2f} s "
        f"| <= interval + for + 1 s = {bar_e2e:g} s ({ok_e2e}) |\n"
        f"{MARKER}"
    )


def main() -> int:
    parser = paced(checks=40, spacing=0.6)
    parser.add_argument("--log", action="store_true", help="print the end of sentinel's log")
    return publish(parser, MARKER, run, report, lambda r, _: r["hook_received"] == r["alerts"])


if __name__ == "__main__":
    raise SystemExit(main())
