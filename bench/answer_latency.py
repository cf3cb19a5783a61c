"""Benchmark: how fast an answer from where the page arrived takes effect.

sentinel runs as a real process with ``--checks`` HTTP checks against a target in
this process; each alert is posted to Slack (a Web API fake: chat.postMessage,
chat.update) with buttons and texted to one contact (a Twilio Messages fake) with
a reply code. Once every alert has paged, half are acknowledged by a signed Slack
click and half by a signed SMS reply ``ACK <code>``, one after another:

- Slack click -> 200 (Slack wants it within 3 s): p50 / p99;
- Slack click -> the message edited (chat.update received by the fake);
- SMS reply -> the TwiML answer "Acknowledged: ..." (every alert texts one number,
  so past five answers the answer is an empty ``<Response/>``: the per-number
  limit; the acknowledgement is made before either).

    python -m bench.answer_latency [--checks 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bench.harness import free_port, measured, pct, publish, sentinel, serve, write_config

MARKER = "<!-- bench:answer_latency -->"
SLACK_TOKEN, SECRET = "xoxb-bench-token", "bench-signing-secret-0123456789"
SID, TOKEN, ALICE = "AC" + "5" * 32, "bench-sms-token", "+15550100001"


class Peers:
    def __init__(self, checks: int) -> None:
        self.failing: set[int] = set()
        self.checks = checks
        self.posted: dict[str, tuple[str, str]] = {}  # firing -> (channel, ts)
        self.texted: dict[str, str] = {}  # check name -> reply code
        self.edited: dict[str, float] = {}  # ts -> when chat.update arrived
        self.all_in = asyncio.Event()
        self._n = 0

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=503 if int(request.match_info["i"]) in self.failing else 200)

    async def post_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._n += 1
        ts = f"{1_767_600_000 + self._n}.000001"
        for block in body.get("blocks", []):
            if block.get("type") == "actions":
                self.posted.setdefault(block["elements"][0]["value"], ("C0OPS", ts))
        self._maybe_all_in()
        return web.json_response({"ok": True, "channel": "C0OPS", "ts": ts})

    async def update(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.edited.setdefault(str(body["ts"]), time.perf_counter())
        return web.json_response({"ok": True, "channel": "C0OPS", "ts": body["ts"]})

    async def ephemeral(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True, "message_ts": "1.000001"})

    async def sms(self, request: web.Request) -> web.Response:
        form = await request.post()
        text = str(form.get("Body", ""))
        code, check = re.search(r"Reply ACK (\d+)", text), re.search(r"\bc\d+\b", text)
        if code and check:
            self.texted.setdefault(check.group(), code.group(1))
        self._maybe_all_in()
        return web.json_response({"sid": "SM" + "0" * 32, "status": "queued"}, status=201)

    def _maybe_all_in(self) -> None:
        if len(self.posted) >= self.checks and len(self.texted) >= self.checks:
            self.all_in.set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/h/{i}", self.health)
        app.router.add_post("/api/chat.postMessage", self.post_message)
        app.router.add_post("/api/chat.update", self.update)
        app.router.add_post("/api/chat.postEphemeral", self.ephemeral)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.sms)
        return app


def channels(peer: int) -> dict[str, str]:
    return {
        "chat": f'{{type: slack, token: "{SLACK_TOKEN}", channel: "#ops", '
        f'signing_secret: "{SECRET}", api_url: "http://127.0.0.1:{peer}/api/"}}',
        "text": f'{{type: sms, account_sid: "{SID}", auth_token: "{TOKEN}", '
        f'from: "+15550109999", api_url: "http://127.0.0.1:{peer}"}}',
    }


def slack_click(firing: str, channel: str, ts: str) -> tuple[bytes, dict[str, str]]:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ALICE"},
        "channel": {"id": channel},
        "message": {"ts": ts},
        "actions": [{"action_id": "sentinel_ack", "value": firing}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + mac.hexdigest(),
    }


def twilio_signed(url: str, form: dict[str, str]) -> str:
    data = url + "".join(k + form[k] for k in sorted(form))
    return base64.b64encode(hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


async def answer(port: int, peers: Peers) -> tuple[list[float], list[float], list[float]]:
    base = f"http://127.0.0.1:{port}"
    firings = sorted(peers.posted)
    slack_ok: list[float] = []
    slack_edit: list[float] = []
    sms_ok: list[float] = []
    async with aiohttp.ClientSession() as http:
        for firing in firings[: len(firings) // 2]:
            channel, ts = peers.posted[firing]
            body, headers = slack_click(firing, channel, ts)
            start = time.perf_counter()
            async with http.post(base + "/slack/interactions", data=body, headers=headers) as r:
                await r.read()
            slack_ok.append(time.perf_counter() - start)
            if r.status != 200:
                raise SystemExit(f"click refused: {r.status}")
            for _ in range(300):
                if ts in peers.edited:
                    break
                await asyncio.sleep(0.005)
            slack_edit.append(peers.edited.get(ts, float("nan")) - start)
        acked_checks = len(firings) // 2
        for check, code in sorted(peers.texted.items())[acked_checks:]:
            del check
            url = base + "/twilio/inbound"
            form = {"From": ALICE, "To": "+15550109999", "Body": f"ACK {code}"}
            start = time.perf_counter()
            sig = twilio_signed(url, form)
            async with http.post(url, data=form, headers={"X-Twilio-Signature": sig}) as r:
                text = await r.text()
            sms_ok.append(time.perf_counter() - start)
            # Past 5 answers a number is answered with an empty <Response/> (the rate
            # limit), the acknowledgement done all the same: the latency is the same work.
            if r.status != 200 or "<Response" not in text:
                raise SystemExit(f"reply refused: {r.status} {text}")
    return slack_ok, slack_edit, sms_ok


async def run(args: argparse.Namespace) -> dict[str, float]:
    peers = Peers(args.checks)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sentinel.yaml"
        async with serve(peers.app()) as peer_port:
            alice = f'  alice: {{phone: "{ALICE}", slack_user: U0ALICE, via: [sms]}}'
            notify = ["chat", "alice"]
            chans = channels(peer_port)
            write_config(
                config, port, peer_port, args.checks, chans, notify, people=["contacts:", alice]
            )
            async with sentinel(config, log=Path(tmp) / "sentinel.log"):
                await asyncio.sleep(args.warmup)
                peers.failing.update(range(args.checks))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(peers.all_in.wait(), 20 + 2 * args.checks)
                slack_ok, slack_edit, sms_ok = await answer(port, peers)
    edits = [e for e in slack_edit if e == e]  # NaN: never edited
    return {
        "alerts": float(args.checks),
        "clicks": float(len(slack_ok)),
        "edited": float(len(edits)),
        "replies": float(len(sms_ok)),
        "click_p50": statistics.median(slack_ok) * 1000,
        "click_p99": pct(slack_ok, 0.99) * 1000,
        "edit_p50": statistics.median(edits) * 1000 if edits else float("nan"),
        "edit_p99": pct(edits, 0.99) * 1000 if edits else float("nan"),
        "sms_p50": statistics.median(sms_ok) * 1000,
        "sms_p99": pct(sms_ok, 0.99) * 1000,
    }


def report(r: dict[str, float], args: argparse.Namespace) -> str:
    ok = "meets" if r["click_p99"] <= 3000 else "MISSES"
    return (
        f"{MARKER}\n### Answers: {int(r['alerts'])} alerts, half acknowledged from Slack, "
        "half by SMS reply\n\n"
        + measured(
            "sentinel as a process, Slack and Twilio fakes on loopback, "
            "`python -m bench.answer_latency`"
        )
        + "\n\n"
        "| figure | measured | bar |\n|---|---|---|\n"
        f"| signed Slack click -> 200, p50 / p99 ({int(r['clicks'])} clicks) | "
        f"{r['click_p50']:.1f} / {r['click_p99']:.1f} ms | p99 <= 3 s, Slack's limit ({ok}) |\n"
        f"| signed Slack click -> message edited (chat.update), p50 / p99 "
        f"({int(r['edited'])} of {int(r['clicks'])}) | "
        f"{r['edit_p50']:.1f} / {r['edit_p99']:.1f} ms | none |\n"
        f"| signed SMS reply ACK <code> -> TwiML answer, p50 / p99 ({int(r['replies'])} replies) | "
        f"{r['sms_p50']:.1f} / {r['sms_p99']:.1f} ms | none |\n"
        f"{MARKER}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=4.0)
    return publish(parser, MARKER, run, report, passed)


def passed(r: dict[str, float], args: argparse.Namespace) -> bool:
    return r["edited"] == r["clicks"] and r["replies"] > 0


if __name__ == "__main__":
    sys.exit(main())
