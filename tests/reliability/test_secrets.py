"""No secret anywhere: a real sentinel process with a password in PostgreSQL DSNs, a token
on every channel and in HTTP check headers, and providers whose error pages echo the
request (headers and body). Afterwards no secret appears in its log, in any GET answer
(with and without the API token), in /metrics, on the status page, in what the
providers received (beyond the credential each one requires), or in the SQLite file.

The scenario runs once per module (a real process costs seconds); each surface is its
own test so one leak does not hide another.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import free_port
from tests.notify.fakes import (
    Echo,
    Fake,
    PagerDuty,
    Receiver,
    Recorded,
    SendGrid,
    SlackApi,
    Twilio,
)
from tests.reliability.harness import Sentinel, eventually
from tests.services import POSTGRES_DSN

API_TOKEN = "api-tok-Q7w9e1r3t5y7u9i1"
ACK_SECRET = "ack-secret-Z3x5c7v9b1n3m5"
PG_RIGHT = "pg-right-P4ss-0a9s8d"  # trust auth accepts it: the check passes
PG_WRONG = "pg-wrong-P4ss-7f6g5h"  # a role that does not exist: the check fails
PG_REFUSED = "pg-refused-P4ss-1j2k3"  # nothing listens: the check fails
CHECK_KEY = "chk-api-key-L0k9j8h7"  # X-Api-Key header of an HTTP check, from ${...}
CHECK_BEARER = "chk-bearer-M1n2b3v4"
SLACK_TOKEN = "xoxb-slack-T0k3n-4d5f6g"
PD_KEY = "pdkey-R8t7y6u5i4o3p2a1s9d8f7g6h5"  # 32 characters, as PagerDuty requires
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-W3e4r5t6y7"
SENDGRID_KEY = "SG.sendgrid-Q1w2e3r4t5y6"
HOOK_SECRET = "hook-hmac-Z9x8c7v6b5"
HOOK_AUTH = "hook-auth-A1s2d3f4g5"  # Authorization header of the webhook, from ${...}
PHONE = "+15550100042"
EMAIL = "oncall.person@example.com"

SECRETS = {
    "api token": API_TOKEN,
    "ack secret": ACK_SECRET,
    "postgres password (right)": PG_RIGHT,
    "postgres password (wrong)": PG_WRONG,
    "postgres password (refused)": PG_REFUSED,
    "http check X-Api-Key": CHECK_KEY,
    "http check bearer": CHECK_BEARER,
    "slack token": SLACK_TOKEN,
    "pagerduty routing key": PD_KEY,
    "twilio auth token": TWILIO_TOKEN,
    "twilio basic credential": base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode(),
    "sendgrid key": SENDGRID_KEY,
    "webhook secret": HOOK_SECRET,
    "webhook Authorization": HOOK_AUTH,
}
CONTACTS = {"phone": PHONE, "email": EMAIL}


def dsn(password: str, *, user: str = "postgres", port: int = 5432) -> str:
    base = POSTGRES_DSN.split("@", 1)[1]  # host:port/db
    host, _, db = base.partition("/")
    host = host.rsplit(":", 1)[0]
    return f"postgresql://{user}:{password}@{host}:{port}/{db}"


def config_text(port: int, db: Path, target: str, fakes: dict[str, Fake]) -> str:
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
  api_token: "{API_TOKEN}"
  ack_secret: "{ACK_SECRET}"
storage:
  url: "sqlite:{db}"
checks:
  - name: api
    type: http
    url: "{target}/health"
    interval: 500ms
    timeout: 400ms
    headers: {{X-Api-Key: "${{CHECK_KEY}}"}}
    auth: {{bearer: "{CHECK_BEARER}"}}
  - {{name: pg-ok, type: postgres, dsn: "{dsn(PG_RIGHT)}", interval: 1s, timeout: 1s}}
  - name: pg-wrong
    type: postgres
    dsn: "{dsn(PG_WRONG, user="no_such_role_sentinel")}"
    interval: 1s
    timeout: 1s
  - name: pg-refused
    type: postgres
    dsn: "{dsn(PG_REFUSED, port=free_port())}"
    interval: 1s
    timeout: 1s
rules:
  - {{name: Down, match: {{}}, expr: up == 0, severity: critical,
      summary: "{{{{ check }}}} is down: {{{{ error }}}}"}}
contacts:
  person: {{phone: "{PHONE}", email: "{EMAIL}", via: [sms, email]}}
channels:
  slack: {{type: slack, token: "{SLACK_TOKEN}", channel: "#ops", api_url: "{fakes["slack"].url}/api/"}}
  pagerduty: {{type: pagerduty, routing_key: "{PD_KEY}", api_url: "{fakes["pagerduty"].url}"}}
  sms: {{type: sms, account_sid: "{TWILIO_SID}", auth_token: "{TWILIO_TOKEN}",
         from: "+15550109999", api_url: "{fakes["sms"].url}"}}
  email: {{type: email, api_key: "{SENDGRID_KEY}", from: sentinel@example.com,
           api_url: "{fakes["email"].url}"}}
  hook: {{type: webhook, url: "{fakes["hook"].url}/hooks/t", secret: "{HOOK_SECRET}",
          headers: {{Authorization: "Bearer ${{HOOK_AUTH}}"}}}}
escalation:
  critical:
    - {{after: 0s, notify: [slack, pagerduty, hook, person]}}
notifications: {{retry_initial: 100ms, retry_max: 300ms, storm: {{threshold: 1000}}}}
"""


@dataclass
class Surfaces:
    """Everything the scenario let out, as text."""

    log: str = ""
    unauthenticated: dict[str, str] = field(default_factory=dict)  # path -> body
    authenticated: dict[str, str] = field(default_factory=dict)
    received: dict[str, list[Recorded]] = field(default_factory=dict)
    sqlite: bytes = b""


def leaks(text: str | bytes, secrets: dict[str, str] = SECRETS) -> list[str]:
    raw = text if isinstance(text, bytes) else text.encode()
    return [name for name, s in secrets.items() if s.encode() in raw]


async def get_all(
    port: int, token: str | None, fps: list[str], incidents: list[str]
) -> dict[str, str]:
    paths = [
        "/",
        "/health",
        "/ready",
        "/metrics",
        "/api/v1/status",
        "/api/v1/openapi.json",
        "/api/v1/checks",
        *[f"/api/v1/checks/{c}" for c in ("api", "pg-ok", "pg-wrong", "pg-refused")],
        "/api/v1/alerts",
        *[f"/api/v1/alerts/{fp}" for fp in fps],
        "/api/v1/silences",
        "/api/v1/incidents",
        *[f"/api/v1/incidents/{i}{tail}" for i in incidents for tail in ("", "/timeline")],
        *[
            f"/api/v1/incidents/{i}/export?format={f}"
            for i in incidents
            for f in ("json", "markdown")
        ],
        "/api/v1/oncall",
        "/api/v1/maintenance",
        "/api/v1/reports",
        "/api/v1/config",
    ]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = {}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
        for path in paths:
            async with http.get(path) as resp:
                out[path] = f"{resp.status} {dict(resp.headers)}\n{await resp.text()}"
    return out


async def collect(tmp: Path) -> Surfaces:
    app = web.Application()

    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app.router.add_get("/health", down)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    target = f"http://127.0.0.1:{runner.addresses[0][1]}"
    surfaces = Surfaces()
    try:
        async with (
            SlackApi(SLACK_TOKEN) as slack,
            PagerDuty() as pagerduty,
            Twilio(TWILIO_SID, TWILIO_TOKEN) as sms,
            SendGrid(SENDGRID_KEY) as email,
            Receiver(HOOK_SECRET) as hook,
        ):
            fakes: dict[str, Fake] = {
                "slack": slack,
                "pagerduty": pagerduty,
                "sms": sms,
                "email": email,
                "hook": hook,
            }
            for fake in fakes.values():  # errors that echo the request, then success
                fake.inject(Echo(500), Echo(503))
            port = free_port()
            db = tmp / "state.db"
            config = tmp / "sentinel.yaml"
            config.write_text(config_text(port, db, target, fakes))
            log = tmp / "sentinel.log"
            proc = Sentinel(config, log, env={"CHECK_KEY": CHECK_KEY, "HOOK_AUTH": HOOK_AUTH})
            await proc.start()
            try:
                await proc.ready(port)
                # three failing checks (api, pg-wrong, pg-refused) reach every channel
                try:
                    await eventually(
                        lambda: all(len(f.accepted) >= 3 for f in fakes.values()),
                        seconds=60,
                        what="every channel paged for each failing check",
                    )
                except AssertionError as exc:
                    counts = {n: (f.seen, len(f.accepted)) for n, f in fakes.items()}
                    tail = log.read_text(errors="replace")[-3000:]
                    raise AssertionError(f"{exc}: {counts}\n{tail}") from None
                async with aiohttp.ClientSession() as http:
                    headers = {"Authorization": f"Bearer {API_TOKEN}"}
                    base = f"http://127.0.0.1:{port}"
                    async with http.get(f"{base}/api/v1/alerts", headers=headers) as resp:
                        alerts = await resp.json()
                    async with http.get(f"{base}/api/v1/incidents", headers=headers) as resp:
                        incidents = await resp.json()
                fps = [a["fingerprint"] for a in _items(alerts)]
                ids = [i["id"] for i in _items(incidents)]
                assert fps, alerts
                assert ids, incidents
                surfaces.unauthenticated = await get_all(port, None, fps, ids)
                surfaces.authenticated = await get_all(port, API_TOKEN, fps, ids)
                for rec in hook.accepted[:1]:  # the ack confirm page from a notification
                    url = str(rec.json["alert"]["ack_url"])
                    async with aiohttp.ClientSession() as http, http.get(url) as resp:
                        surfaces.unauthenticated["ack page"] = await resp.text()
                # a reload, so its log lines are in the log too
                proc.signal(1)  # SIGHUP
                await asyncio.sleep(1.0)
            finally:
                assert await proc.stop() == 0
            surfaces.received = {name: list(f.accepted) for name, f in fakes.items()}
            surfaces.log = log.read_text(errors="replace")
            surfaces.sqlite = b"".join(
                p.read_bytes() for p in tmp.iterdir() if p.name.startswith("state.db")
            )
    finally:
        await runner.cleanup()
    return surfaces


def _items(body: object) -> list[dict[str, str]]:
    if isinstance(body, dict):
        for key in ("items", "alerts", "incidents"):
            if isinstance(body.get(key), list):
                return list(body[key])
    assert isinstance(body, list), body
    return list(body)


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory: pytest.TempPathFactory) -> Surfaces:
    return asyncio.run(collect(tmp_path_factory.mktemp("secrets")))


def test_the_scenario_exercised_the_failures(surfaces: Surfaces) -> None:
    """The providers' echoing errors were logged as retries and the failing checks'
    reasons reached the notifications: otherwise the other tests prove nothing."""
    assert surfaces.log.count("notify_retry_scheduled") >= 10
    assert "config_reloaded" in surfaces.log
    hook = [r.json for r in surfaces.received["hook"]]
    checks = {h["alert"]["check"] for h in hook}
    assert {"api", "pg-wrong", "pg-refused"} <= checks, checks
    assert "pg-ok" not in checks


def test_no_secret_in_the_log(surfaces: Surfaces) -> None:
    assert leaks(surfaces.log) == []


def test_no_secret_in_get_answers_without_token(surfaces: Surfaces) -> None:
    found = {p: leaks(body) for p, body in surfaces.unauthenticated.items()}
    assert {p: names for p, names in found.items() if names} == {}
    assert all(
        p == "ack page" or body.startswith(("200", "401", "403"))
        for p, body in surfaces.unauthenticated.items()
    )


def test_no_secret_in_get_answers_with_token(surfaces: Surfaces) -> None:
    found = {p: leaks(body) for p, body in surfaces.authenticated.items() if p != "/api/v1/config"}
    assert {p: names for p, names in found.items() if names} == {}


def test_config_shows_no_secret_but_the_environments(surfaces: Surfaces) -> None:
    """/api/v1/config redacts every SecretStr; the header values fault 10 is about are
    in the next test."""
    env = {"http check X-Api-Key", "webhook Authorization"}
    others = {k: v for k, v in SECRETS.items() if k not in env}
    assert leaks(surfaces.authenticated["/api/v1/config"], others) == []


def test_config_redacts_header_values(surfaces: Surfaces) -> None:
    assert leaks(surfaces.authenticated["/api/v1/config"]) == []


def test_no_contact_address_without_token(surfaces: Surfaces) -> None:
    found = {p: leaks(body, CONTACTS) for p, body in surfaces.unauthenticated.items()}
    assert {p: names for p, names in found.items() if names} == {}


def test_no_secret_in_metrics_or_status_page(surfaces: Surfaces) -> None:
    for answers in (surfaces.unauthenticated, surfaces.authenticated):
        assert leaks(answers["/metrics"]) == []
        assert leaks(answers["/"]) == []
        assert "<html" in answers["/"].lower()


# The credential each provider requires, and where: not a leak there, a leak elsewhere.
REQUIRED = {
    "slack": ("header", "Authorization", "slack token"),
    "pagerduty": ("json", "routing_key", "pagerduty routing key"),
    "sms": ("header", "Authorization", "twilio basic credential"),
    "email": ("header", "Authorization", "sendgrid key"),
    "hook": ("header", "Authorization", "webhook Authorization"),
}


def test_no_secret_in_notifications(surfaces: Surfaces) -> None:
    """Each request carries its own provider's credential where the provider requires
    it, and no other secret anywhere (the alert reasons of the failing checks came from
    DSNs and headers with secrets)."""
    for name, recs in surfaces.received.items():
        where, field_name, own = REQUIRED[name]
        for rec in recs:
            headers = dict(rec.headers)
            body = rec.body
            if where == "header":
                assert SECRETS[own] in headers.pop(field_name, ""), name
            else:
                event = json.loads(body)
                assert event.pop(field_name) == SECRETS[own]
                body = json.dumps(event).encode()
            text = json.dumps(headers).encode() + b"\n" + body
            assert leaks(text) == [], (name, rec.path, leaks(text))


def test_no_secret_in_the_sqlite_file(surfaces: Surfaces) -> None:
    assert surfaces.sqlite, "no database file"
    assert leaks(surfaces.sqlite) == []
    assert re.search(rb"connection refused|does not exist|authentication", surfaces.sqlite)
