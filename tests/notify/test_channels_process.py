"""SMTP, ntfy and Telegram end to end: a real ``sentinel run`` process pages the three
fakes when a check dies, an acknowledgement through the API follows up on each (the
Telegram message edited, the mail threaded), ``notify-test`` reaches each, and none of
their credentials appears in the process's output or its API answers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
import structlog
import trustme

from sentinel.cli.main import main
from sentinel.cli.notify import notify_test
from sentinel.clock import SystemClock
from sentinel.config import load_config
from tests.conftest import free_port
from tests.notify.fakes import Fault, Ntfy, TelegramBot, telegram_html
from tests.notify.smtp_server import SmtpServer
from tests.polling import eventually

API_TOKEN = "api-token-chA-0123456789"
SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "smtp-pass-Zq81-secret"
NTFY_TOKEN = "tk_ntfy0secret0token0abcdef12"
TOPIC = "ops-topic-9c41secret"
TG_TOKEN = "555000111:AAHsecretBotTokenForTheProcessTest01"
SECRETS = [SMTP_PASSWORD, NTFY_TOKEN, TOPIC, TG_TOKEN, TG_TOKEN.split(":")[1]]


def config_text(tmp: Path, port: int, smtp: int, ca_file: str, ntfy: str, tg: str) -> str:
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
  api_token: "${{API_TOKEN}}"
storage:
  url: "sqlite:{tmp}/state.db"
checks:
  - {{name: dead, type: tcp, target: "127.0.0.1:{free_port()}", interval: 200ms, timeout: 200ms}}
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical,
      summary: "{{{{ check }}}} is down: {{{{ error }}}}"}}
channels:
  mail:
    type: smtp
    host: 127.0.0.1
    port: {smtp}
    tls: starttls
    username: {SMTP_USER}
    password: "${{SMTP_PASSWORD}}"
    from: sentinel@example.com
    to: [ops@example.com]
    ca_file: "{ca_file}"
  push: {{type: ntfy, url: "{ntfy}/${{NTFY_TOPIC}}", token: "${{NTFY_TOKEN}}"}}
  chat: {{type: telegram, token: "${{TELEGRAM_TOKEN}}", chat_id: -100123, api_url: "{tg}"}}
escalation:
  critical:
    - {{after: 0s, notify: [mail, push, chat]}}
notifications: {{retry_initial: 100ms, retry_max: 500ms}}
"""


ENV = {
    "API_TOKEN": API_TOKEN,
    "SMTP_PASSWORD": SMTP_PASSWORD,
    "NTFY_TOKEN": NTFY_TOKEN,
    "NTFY_TOPIC": TOPIC,
    "TELEGRAM_TOKEN": TG_TOKEN,
}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_process_pages_smtp_ntfy_telegram_and_leaks_no_secret(
    tmp_path: Path, ca: trustme.CA
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    async with (
        SmtpServer(ca, users={SMTP_USER: SMTP_PASSWORD}) as smtp,
        Ntfy(TOPIC, token=NTFY_TOKEN) as ntfy,
        TelegramBot(TG_TOKEN) as bot,
    ):
        config = tmp_path / "sentinel.yaml"
        config.write_text(config_text(tmp_path, port, smtp.port, str(ca_file), ntfy.url, bot.url))
        out = tmp_path / "out.log"
        # the first attempt of each fails with an answer that echoes the credentials
        smtp.inject("MAIL", f"451 4.3.0 try later {SMTP_PASSWORD} {SMTP_USER}")
        ntfy.inject(Fault(500, {"code": 50001, "error": f"x {NTFY_TOKEN} {TOPIC}"}))
        bot.inject(Fault(502, {"ok": False, "error_code": 502, "description": TG_TOKEN}))
        env = {**os.environ, **ENV, "SENTINEL_LOG_FORMAT": "json"}
        with out.open("wb") as sink:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sentinel", "run", "-c", str(config),
                env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                await eventually(lambda: bool(smtp.accepted and ntfy.messages and bot.accepted), 20)
                first = smtp.accepted[0].message
                assert "ServiceDown" in str(first["Subject"])
                assert ntfy.messages[0]["priority"] == 5
                root = bot.messages[(-100123, 1)]
                assert "connection refused" in (telegram_html(root["text"]) or "")
                answers = await _ack_and_read_api(port)
                await eventually(lambda: len(smtp.accepted) >= 2 and len(ntfy.messages) >= 2, 20)
                await eventually(lambda: bool(bot.edits), 20)
                follow = smtp.accepted[1].message
                assert follow["In-Reply-To"] == first["Message-ID"]
                assert "ACKNOWLEDGED by alice" in (telegram_html(root["text"]) or "")
                assert ntfy.messages[1]["priority"] == 2
            finally:
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), 20) == 0
        # notify-test reaches each channel through the same config
        loaded = load_config(config, ENV)
        for channel in ("mail", "push", "chat"):
            assert await notify_test(loaded, channel, None, SystemClock()) == 0
    output = out.read_text()
    assert "notification_sent" in output
    assert output.count("notify_retry_scheduled") == 3
    for text in (output, *answers):
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked"


async def _ack_and_read_api(port: int) -> list[str]:
    """Acknowledge the alert through the API; the API's answers, for the secret check."""
    answers = []
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
        async with http.get("/api/v1/alerts") as resp:
            alerts = (await resp.json())["alerts"]
        fp = next(a["id"] if "id" in a else a["fingerprint"] for a in alerts)
        async with http.post(f"/api/v1/alerts/{fp}/ack", json={"by": "alice"}) as resp:
            assert resp.status == 200, await resp.text()
            answers.append(await resp.text())
        for route in ("/api/v1/config", "/api/v1/status", "/metrics", "/api/v1/alerts"):
            async with http.get(route) as resp:
                answers.append(await resp.text())
    return answers


SIMULATED = """
checks:
  - {name: api, type: tcp, target: "127.0.0.1:9", interval: 10s}
rules:
  - {name: ApiDown, match: {check: api}, expr: up == 0, severity: critical}
contacts:
  alice: {email: alice@example.com, via: [email]}
channels:
  mail: {type: smtp, host: "${SMTP_HOST}", username: "${SMTP_USER}",
         password: "${SMTP_PASSWORD}", from: sentinel@example.com}
  push: {type: ntfy, url: "https://ntfy.sh/${NTFY_TOPIC}", token: "${NTFY_TOKEN}"}
  chat: {type: telegram, token: "${TELEGRAM_TOKEN}", chat_id: "${TELEGRAM_CHAT_ID}"}
escalation:
  critical: [{after: 0s, notify: [alice, push, chat]}]
"""


def test_simulate_replays_the_new_channels_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sentinel simulate` takes smtp, ntfy and telegram channels whose credentials are
    unset (it sends nothing), and shows each one's notices: firing, then acknowledged."""
    config = tmp_path / "sentinel.yaml"
    config.write_text(SIMULATED)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "until: 10m\nevents:\n  - {at: 0s, check: api, fail: refused}\n"
        "  - {at: 5m, ack: ApiDown, by: bob}\n"
    )
    for name in ("SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "NTFY_TOPIC", "NTFY_TOKEN"):
        assert name not in os.environ
    args = ["simulate", "-c", str(config), "--scenario", str(scenario)]
    try:
        assert main(args) == 0
    finally:
        structlog.reset_defaults()
    out = capsys.readouterr().out
    for line in (
        "-> mail alice@example.com (alice)  firing ApiDown api",
        "-> push  firing ApiDown api",
        "-> chat  firing ApiDown api",
        "-> chat  acknowledged ApiDown api",
    ):
        assert line in out, out
