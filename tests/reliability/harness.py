"""A real sentinel process against local provider fakes, and what it left in its outbox.

One scenario: a critical alert on an HTTP check escalates through three steps
across three channels (webhook, SMS through Twilio, email through SendGrid),
each step to its own addresses so a received request names its outbox row:

    step 0 (0 s)  webhook, ann's phone
    step 1 (1 s)  webhook, bea's email
    step 2 (2 s)  webhook, cid's phone and email

The target then recovers and every route notified hears the resolution. The
storm variant runs several checks on the webhook and Twilio only, with a storm
threshold low enough that notices are held and go out as digests.

Received requests and outbox rows are both reduced to a :data:`Key`
(channel, address, kind, check), so "nothing lost" and "nothing repeated" are
two comparisons of counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.notify.fakes import Fake, Receiver, Recorded, SendGrid, Twilio

TOKEN = "api-token-0123456789"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-auth-token-5f1e"
SENDGRID_KEY = "SG.sendgrid-key-7c2d"
HOOK_SECRET = "hook-signing-secret-9a8b"
PHONES = {"ann": "+15550100001", "cid": "+15550100003", "storm": "+15550100009"}
EMAILS = {"bea": "bea@example.com", "cid": "cid@example.com"}
STEPS = (0.0, 1.0, 2.0)  # seconds after firing
FOR = 1.0
Key = tuple[str, str, str, str]  # (channel, address or "", notice kind, check)


@dataclass
class Target:
    """The HTTP service the checks probe; ``down`` lists the failing paths."""

    down: set[str] = field(default_factory=set)
    url: str = ""

    async def health(self, request: web.Request) -> web.Response:
        status = 503 if request.match_info["name"] in self.down else 200
        return web.Response(status=status, text="ok")


@dataclass
class Peers:
    target: Target
    hook: Receiver
    sms: Twilio
    email: SendGrid

    @property
    def fakes(self) -> dict[str, Fake]:
        return {"hook": self.hook, "sms": self.sms, "email": self.email}


class Stamped(list[Recorded]):
    """A fake's ``accepted`` list that also keeps when each request was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def append(self, item: Recorded) -> None:
        self.at.append(time.time())
        super().append(item)


def stamps(fake: Fake) -> list[float]:
    accepted = fake.accepted
    assert isinstance(accepted, Stamped)
    return accepted.at


def windows(p: Peers, log: Path) -> list[float]:
    """Seconds from each provider accepting a notice to sentinel logging it as sent
    (``notification_sent`` comes after the outbox update is committed): the window in
    which a kill makes a restart send the notice again. Each channel sends one notice
    at a time, so the k-th request a fake accepted is the k-th line for its channel;
    only meaningful for a run where no notice was repeated."""
    logged: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"notification_sent"' not in line:
            continue
        event = json.loads(line)
        at = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
        logged.setdefault(str(event["channel"]), []).append(at.timestamp())
    out = []
    for name, fake in p.fakes.items():
        out += [b - a for a, b in zip(stamps(fake), logged.get(name, []), strict=False)]
    return out


@contextlib.asynccontextmanager
async def peers() -> AsyncIterator[Peers]:
    target = Target()
    app = web.Application()
    app.router.add_get("/h/{name}", target.health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    target.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with (
            Receiver(HOOK_SECRET) as hook,
            Twilio(TWILIO_SID, TWILIO_TOKEN) as sms,
            SendGrid(SENDGRID_KEY) as email,
        ):
            for fake in (hook, sms, email):
                fake.accepted = Stamped()
            yield Peers(target, hook, sms, email)
    finally:
        await runner.cleanup()


def config_text(
    p: Peers, port: int, db: Path, checks: list[str], *, storm: bool = False, interval: float = 0.3
) -> str:
    check_lines = "\n".join(
        f'  - {{name: {c}, type: http, url: "{p.target.url}/h/{c}", interval: {interval}s, '
        "timeout: 250ms}"
        for c in checks
    )
    if storm:
        steps = [
            "    - {after: 0s, notify: [hook, storm]}",
            "    - {after: 1s, notify: [hook]}",
        ]
        gate = "storm: {window: 5s, threshold: 2}"  # 5 s: no shorter than a digest's spacing
    else:
        steps = [
            "    - {after: 0s, notify: [hook, ann]}",
            "    - {after: 1s, notify: [hook, bea]}",
            "    - {after: 2s, notify: [hook, cid]}",
        ]
        gate = "storm: {threshold: 1000}"
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
  api_token: "{TOKEN}"
storage:
  url: "sqlite:{db}"
checks:
{check_lines}
rules:
  - {{name: ServiceDown, match: {{type: http}}, expr: up == 0, for: {FOR:g}s,
      severity: critical}}
contacts:
  ann: {{phone: "{PHONES["ann"]}", via: [sms]}}
  bea: {{email: "{EMAILS["bea"]}", via: [email]}}
  cid: {{phone: "{PHONES["cid"]}", email: "{EMAILS["cid"]}", via: [sms, email]}}
  storm: {{phone: "{PHONES["storm"]}", via: [sms]}}
channels:
  hook: {{type: webhook, url: "{p.hook.url}/hooks/t", secret: "{HOOK_SECRET}"}}
  sms: {{type: sms, account_sid: "{TWILIO_SID}", auth_token: "{TWILIO_TOKEN}",
         from: "+15550109999", api_url: "{p.sms.url}"}}
  email: {{type: email, api_key: "{SENDGRID_KEY}", from: sentinel@example.com,
           api_url: "{p.email.url}"}}
escalation:
  critical:
{chr(10).join(steps)}
  repeat_every: 1h
notifications: {{retry_initial: 100ms, retry_max: 400ms, timeout: 2s, {gate}}}
"""


RUNNING: set[int] = set()  # pids of the processes started and not yet stopped


def reap() -> None:
    """SIGKILL whatever a failed test left running (see tests/reliability/conftest.py)."""
    for pid in list(RUNNING):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        RUNNING.discard(pid)


class Sentinel:
    """One ``sentinel run`` process; its output goes to a file the test can read."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log = log
        self.env = {**os.environ, "SENTINEL_LOG_FORMAT": "json", **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sentinel",
                "run",
                "-c",
                str(self.config),
                env=self.env,
                stdout=out,
                stderr=out,
                stdin=asyncio.subprocess.DEVNULL,
            )
        RUNNING.add(self.proc.pid)

    async def ready(self, port: int, seconds: float = 30.0) -> None:
        """Until ``/health`` answers: the signal handlers are installed by then."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise AssertionError(f"sentinel exited with {self.proc.returncode}: {tail}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                        if resp.status == 200:
                            return
                if loop.time() > end:
                    raise AssertionError(f"sentinel not ready within {seconds:g} s")
                await asyncio.sleep(0.05)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        await self.proc.wait()
        RUNNING.discard(self.proc.pid)

    async def stop(self) -> int:
        """SIGTERM, bounded; SIGKILL when it does not stop in time."""
        assert self.proc is not None
        self.signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), 20)
            RUNNING.discard(self.proc.pid)
            return code
        except TimeoutError:
            await self.kill()
            raise


def _select(db: Path, sql: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows read with a second connection, as an operator would; [] before the schema."""
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            found = conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    return [dict(zip(names, r, strict=True)) for r in found]


def rows(db: Path) -> list[dict[str, Any]]:
    """The outbox, each notice decoded."""
    names = ("dedup", "channel", "address", "notice", "state", "created_at", "sent_at")
    out = _select(db, f"SELECT {', '.join(names)} FROM outbox", names)
    for r in out:
        r["notice"] = json.loads(r["notice"])
    return out


def alert_rows(db: Path) -> list[dict[str, Any]]:
    """Pending and firing alerts (``check`` is the column check_name)."""
    names = ("fingerprint", "check_name", "state", "active_since", "fired_at")
    out = _select(db, f"SELECT {', '.join(names)} FROM alerts", names)
    for r in out:
        r["check"] = r.pop("check_name")
    return out


DONE = ("sent", "merged")


def row_key(row: dict[str, Any]) -> Key:
    notice = row["notice"]
    check = (notice.get("alert") or {}).get("check", "")
    return (row["channel"], row["address"] or "", notice["kind"], check)


def outbox_counts(all_rows: list[dict[str, Any]], states: tuple[str, ...] = DONE) -> Counter[Key]:
    return Counter(row_key(r) for r in all_rows if r["state"] in states)


def _digest_items(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, check) of each notice a webhook digest folds: its ``entries`` where the
    payload has them, else the lines of its text (``KIND severity rule check``)."""
    entries = body.get("entries")
    if isinstance(entries, list):
        return [(str(e["kind"]), str(e["alert"]["check"])) for e in entries]
    out = []
    for line in str(body.get("text", "")).splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[0].lower(), parts[3]))
    return out


def received(p: Peers) -> Counter[Key]:
    """What the fakes accepted, as outbox keys; a digest counts once per alert it lists.
    SMS and email do not tell a firing from an escalation: both count as "page"; an
    SMS digest does not tell a page from a resolution: its items count as "*"."""
    got: Counter[Key] = Counter()
    for rec in p.hook.accepted:
        body = rec.json
        if body["kind"] == "digest":
            for kind, check in _digest_items(body):
                got[("hook", "", kind, check)] += 1
        else:
            got[("hook", "", body["kind"], body["alert"]["check"])] += 1
    for rec in p.sms.accepted:
        to, text = rec.form["To"], rec.form["Body"]
        head, _, rest = text.partition(" ")
        if head == "DIGEST" or (head.isdigit() and rest.startswith("alerts:")):
            # "2 alerts: CRITICAL ServiceDown c1; ..." or, with the storm sections,
            # "DIGEST 2 alerts: ... Firing: CRITICAL ServiceDown c1; ... Resolved: ..."
            for check in re.findall(r"ServiceDown ([\w-]+)", text):
                got[("sms", to, "*", check)] += 1
            continue
        kind = {"RESOLVED": "resolved", "ACK": "acknowledged"}.get(head, "page")
        got[("sms", to, kind, text.split()[2].rstrip(":"))] += 1
    for rec in p.email.accepted:
        mail = rec.json
        to = mail["personalizations"][0]["to"][0]["email"]
        subject = str(mail["subject"])
        head = subject.split()[0].strip("[]").upper()
        kind = {"RESOLVED": "resolved", "ACK": "acknowledged"}.get(head, "page")
        got[("email", to, kind, subject.split()[-1])] += 1
    return got


def star(counts: Counter[Key], channels: tuple[str, ...]) -> Counter[Key]:
    """The kinds of ``channels`` folded into "*" (where digests hide them)."""
    out: Counter[Key] = Counter()
    for (channel, address, kind, check), n in counts.items():
        out[(channel, address, "*" if channel in channels else kind, check)] += n
    return out


def normalise(counts: Counter[Key]) -> Counter[Key]:
    """Outbox keys as :func:`received` can tell them: on SMS and email a firing, an
    escalation and a repeat are all a "page"."""
    out: Counter[Key] = Counter()
    for (channel, address, kind, check), n in counts.items():
        if channel != "hook" and kind in ("firing", "escalation", "repeat"):
            kind = "page"
        out[(channel, address, kind, check)] += n
    return out


async def eventually(
    predicate: Callable[[], bool], seconds: float = 30.0, what: str = "condition"
) -> None:
    """Poll real I/O until it shows the expected state; bounded in time."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"{what} not reached within {seconds:g} s")
        await asyncio.sleep(0.05)
