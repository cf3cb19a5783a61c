"""No secret anywhere: a real sentinel process with a password in PostgreSQL DSNs, a token
on every channel (the first five, and the seven of issue 18: voice, SMTP, Teams,
Discord, Telegram, Mattermost, ntfy) and in HTTP check headers, and providers whose
error pages echo the request (URL, headers and body; the SMTP server's replies
repeat the login). Afterwards no secret appears in its log, in any GET answer
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
import trustme
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.conftest import free_port
from tests.notify.fakes import (
    DiscordWebhook,
    Echo,
    Fake,
    Fault,
    MattermostHook,
    Ntfy,
    PagerDuty,
    Receiver,
    Recorded,
    SendGrid,
    SlackApi,
    TeamsWorkflow,
    TelegramBot,
    Twilio,
    TwilioCalls,
)
from tests.notify.smtp_server import SmtpServer
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
# issue 18's channels
VOICE_SID = "AC" + "7" * 32
VOICE_TOKEN = "voice-auth-V5b6n7m8k9"
VOICE_OLD_TOKEN = "voice-old-auth-J1h2g3f4"  # secondary_auth_token, during a rotation
SMTP_USER = "smtp-user-U8i7o6p5"
SMTP_PASSWORD = "smtp-pass-S1d2f3g4h5"
TEAMS_SIG = "teams-sig-T6y5u4i3o2p1"
DISCORD_TOKEN = "discord-hook-D9f8g7h6j5k4"
TG_TOKEN = "777000111:AAtelegram-G1h2j3k4l5z6x7c8v9"
MM_KEY = "mmhookkey0q9w8e7r6t5y4"
NTFY_TOPIC = "ntfy-topic-N3m4b5v6c7"
NTFY_TOKEN = "tk_ntfytoken0z1x2c3v4b5"

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
    "voice auth token": VOICE_TOKEN,
    "voice secondary auth token": VOICE_OLD_TOKEN,
    "voice basic credential": base64.b64encode(f"{VOICE_SID}:{VOICE_TOKEN}".encode()).decode(),
    "smtp username": SMTP_USER,
    "smtp password": SMTP_PASSWORD,
    "teams webhook sig": TEAMS_SIG,
    "discord webhook token": DISCORD_TOKEN,
    "telegram bot token": TG_TOKEN,
    "telegram bot token's secret half": TG_TOKEN.split(":")[1],
    "mattermost hook key": MM_KEY,
    "ntfy topic": NTFY_TOPIC,
    "ntfy token": NTFY_TOKEN,
}
CONTACTS = {"phone": PHONE, "email": EMAIL}
# What each provider is sent, so what its error pages could repeat.
OWN = {
    "slack": ["slack token"],
    "pagerduty": ["pagerduty routing key"],
    "sms": ["twilio auth token", "twilio basic credential"],
    "email": ["sendgrid key"],
    "hook": ["webhook secret", "webhook Authorization"],
    "voice": ["voice auth token", "voice basic credential"],
    "teams": ["teams webhook sig"],
    "discord": ["discord webhook token"],
    "telegram": ["telegram bot token", "telegram bot token's secret half"],
    "mattermost": ["mattermost hook key"],
    "ntfy": ["ntfy topic", "ntfy token"],
}


def echo_json(provider: str) -> Fault:
    """A 503 in every provider's JSON error shape at once, repeating the provider's own
    credentials in the fields notifiers read a reason from (Telegram's description,
    Twilio's message, ntfy's error, SendGrid's errors, ...)."""
    text = " ".join(SECRETS[k] for k in OWN[provider])
    body = {"ok": False, "error": text, "message": text, "description": text}
    body |= {"detailed_error": text, "errors": [{"message": text, "field": text}]}
    return Fault(503, body | {"code": 50001, "error_code": 503})


def dsn(password: str, *, user: str = "postgres", port: int = 5432) -> str:
    base = POSTGRES_DSN.split("@", 1)[1]  # host:port/db
    host, _, db = base.partition("/")
    host = host.rsplit(":", 1)[0]
    return f"postgresql://{user}:{password}@{host}:{port}/{db}"


def config_text(
    port: int, db: Path, target: str, fakes: dict[str, Fake], smtp: int, ca_file: Path
) -> str:
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
  voice: {{type: voice, account_sid: "{VOICE_SID}", auth_token: "{VOICE_TOKEN}",
           secondary_auth_token: "{VOICE_OLD_TOKEN}", from: "+15550109998",
           to: ["+15550100043"], per_number: 0s, api_url: "{fakes["voice"].url}"}}
  smtp: {{type: smtp, host: 127.0.0.1, port: {smtp}, tls: starttls, username: "{SMTP_USER}",
          password: "{SMTP_PASSWORD}", from: sentinel@example.com, to: [ops@example.com],
          ca_file: "{ca_file}"}}
  teams: {{type: teams, webhook_url: "{TeamsWorkflow.at(fakes["teams"].url, TEAMS_SIG)}"}}
  discord: {{type: discord, webhook_url: "{fakes["discord"].url}/api/webhooks/{DiscordWebhook.ID}/{DISCORD_TOKEN}"}}
  telegram: {{type: telegram, token: "{TG_TOKEN}", chat_id: -100123, api_url: "{fakes["telegram"].url}"}}
  mattermost: {{type: mattermost, webhook_url: "{fakes["mattermost"].url}/hooks/{MM_KEY}"}}
  ntfy: {{type: ntfy, url: "{fakes["ntfy"].url}/{NTFY_TOPIC}", token: "{NTFY_TOKEN}"}}
escalation:
  critical:
    - {{after: 0s, notify: [slack, pagerduty, hook, person, {", ".join(NEW)}]}}
notifications: {{retry_initial: 100ms, retry_max: 300ms, storm: {{threshold: 1000}}}}
"""


NEW = ("voice", "smtp", "teams", "discord", "telegram", "mattermost", "ntfy")


@dataclass
class Surfaces:
    """Everything the scenario let out, as text."""

    log: str = ""
    unauthenticated: dict[str, str] = field(default_factory=dict)  # path -> body
    authenticated: dict[str, str] = field(default_factory=dict)
    received: dict[str, list[Recorded]] = field(default_factory=dict)
    mail: list[bytes] = field(default_factory=list)  # what the SMTP server accepted, raw
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
    ca = trustme.CA()
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        async with (
            SlackApi(SLACK_TOKEN) as slack,
            PagerDuty() as pagerduty,
            Twilio(TWILIO_SID, TWILIO_TOKEN) as sms,
            SendGrid(SENDGRID_KEY) as email,
            Receiver(HOOK_SECRET) as hook,
            TwilioCalls(VOICE_SID, VOICE_TOKEN) as voice,
            TeamsWorkflow(TEAMS_SIG) as teams,
            DiscordWebhook(DISCORD_TOKEN) as discord,
            TelegramBot(TG_TOKEN) as telegram,
            MattermostHook(MM_KEY) as mattermost,
            Ntfy(NTFY_TOPIC, token=NTFY_TOKEN) as ntfy,
            SmtpServer(ca, users={SMTP_USER: SMTP_PASSWORD}) as smtp,
        ):
            fakes: dict[str, Fake] = {
                "slack": slack,
                "pagerduty": pagerduty,
                "sms": sms,
                "email": email,
                "hook": hook,
                "voice": voice,
                "teams": teams,
                "discord": discord,
                "telegram": telegram,
                "mattermost": mattermost,
                "ntfy": ntfy,
            }
            for name, fake in fakes.items():  # errors that echo the request, then success
                fake.inject(Echo(500), echo_json(name))
            for command in ("MAIL", "RCPT"):  # replies that repeat the login
                smtp.inject(command, f"451 4.3.0 try later, {SMTP_USER}:{SMTP_PASSWORD}")
            port = free_port()
            db = tmp / "state.db"
            config = tmp / "sentinel.yaml"
            config.write_text(config_text(port, db, target, fakes, smtp.port, ca_file))
            log = tmp / "sentinel.log"
            proc = Sentinel(config, log, env={"CHECK_KEY": CHECK_KEY, "HOOK_AUTH": HOOK_AUTH})
            await proc.start()
            try:
                await proc.ready(port)
                # three failing checks (api, pg-wrong, pg-refused) reach every channel
                try:
                    await eventually(
                        lambda: (
                            all(len(f.accepted) >= 3 for f in fakes.values())
                            and len(smtp.accepted) >= 3
                        ),
                        seconds=60,
                        what="every channel paged for each failing check",
                    )
                except AssertionError as exc:
                    counts = {n: (f.seen, len(f.accepted)) for n, f in fakes.items()}
                    counts["smtp"] = (smtp.sessions, len(smtp.accepted))
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
                surfaces.unauthenticated |= await twilio_callbacks(voice.accepted[0].form)
                # a reload, so its log lines are in the log too
                proc.signal(1)  # SIGHUP
                await asyncio.sleep(1.0)
            finally:
                assert await proc.stop() == 0
            surfaces.received = {name: list(f.accepted) for name, f in fakes.items()}
            surfaces.mail = [r.message.as_bytes() for r in smtp.accepted]
            surfaces.log = log.read_text(errors="replace")
            surfaces.sqlite = b"".join(
                p.read_bytes() for p in tmp.iterdir() if p.name.startswith("state.db")
            )
    finally:
        await runner.cleanup()
    return surfaces


async def twilio_callbacks(call: dict[str, str]) -> dict[str, str]:
    """Twilio's callbacks about the first call: a keypress signed with the old (secondary)
    token, a status signed with a wrong token, and one signed right; their answers."""
    status_url = call["StatusCallback"]
    keypress_url = status_url.removesuffix("/status")
    fields = {"CallSid": "CA1", "AccountSid": VOICE_SID, "To": call["To"], "From": call["From"]}
    out = {}
    for name, url, form, token in (
        ("twilio keypress", keypress_url, {**fields, "Digits": "7"}, VOICE_OLD_TOKEN),
        ("twilio forged status", status_url, {**fields, "CallStatus": "busy"}, "wrong-token"),
        ("twilio status", status_url, {**fields, "CallStatus": "completed"}, VOICE_TOKEN),
    ):
        signature = RequestValidator(token).compute_signature(url, form)
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=form, headers={"X-Twilio-Signature": signature}) as resp,
        ):
            out[name] = f"{resp.status} {dict(resp.headers)}\n{await resp.text()}"
    assert out["twilio forged status"].startswith("403"), out
    assert out["twilio keypress"].startswith("200"), out
    return out


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
    retried = {
        json.loads(line).get("channel")
        for line in surfaces.log.splitlines()
        if "notify_retry_scheduled" in line and line.startswith("{")
    }
    assert set(REQUIRED) | {"smtp"} <= retried, retried
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
        p == "ack page" or body.startswith(("200", "204", "401", "403"))
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


# The credentials each provider requires, and where: not a leak there, a leak elsewhere
# ("path": in the URL's path, as Telegram, Discord, Mattermost and ntfy take them; Teams'
# sig is in the query string, which the fakes do not record).
REQUIRED: dict[str, list[tuple[str, str, str]]] = {
    "slack": [("header", "Authorization", "slack token")],
    "pagerduty": [("json", "routing_key", "pagerduty routing key")],
    "sms": [("header", "Authorization", "twilio basic credential")],
    "email": [("header", "Authorization", "sendgrid key")],
    "hook": [("header", "Authorization", "webhook Authorization")],
    "voice": [("header", "Authorization", "voice basic credential")],
    "teams": [],
    "discord": [("path", "", "discord webhook token")],
    "telegram": [("path", "", "telegram bot token")],
    "mattermost": [("path", "", "mattermost hook key")],
    "ntfy": [("path", "", "ntfy topic"), ("header", "Authorization", "ntfy token")],
}


def test_no_secret_in_notifications(surfaces: Surfaces) -> None:
    """Each request carries its own provider's credentials where the provider requires
    them, and no other secret anywhere: not in its headers, body or path (the alert
    reasons of the failing checks came from DSNs and headers with secrets)."""
    assert set(surfaces.received) == set(REQUIRED)
    for name, recs in surfaces.received.items():
        for rec in recs:
            headers, body, path = dict(rec.headers), rec.body, rec.path
            for where, field_name, own in REQUIRED[name]:
                if where == "header":
                    assert SECRETS[own] in headers.pop(field_name, ""), name
                elif where == "path":
                    assert SECRETS[own] in path, name
                    path = path.replace(SECRETS[own], "")
                else:
                    event = json.loads(body)
                    assert event.pop(field_name) == SECRETS[own]
                    body = json.dumps(event).encode()
            text = path.encode() + b"\n" + json.dumps(headers).encode() + b"\n" + body
            assert leaks(text) == [], (name, rec.path, leaks(text))


def test_no_secret_in_mail(surfaces: Surfaces) -> None:
    """The SMTP channel's messages (headers and both parts) carry no secret; its login
    goes only in the AUTH exchange."""
    assert len(surfaces.mail) >= 3
    found = [leaks(raw) for raw in surfaces.mail]
    assert [names for names in found if names] == []


def test_no_secret_in_the_sqlite_file(surfaces: Surfaces) -> None:
    assert surfaces.sqlite, "no database file"
    assert leaks(surfaces.sqlite) == []
    assert re.search(rb"connection refused|does not exist|authentication", surfaces.sqlite)
