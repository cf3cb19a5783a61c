"""`sentinel run` as its own process, answered where its pages arrived: two services
go down; each is posted to Slack with buttons and texted to alice with a reply code.
A signed Acknowledge click takes the first (the Slack message is edited to say who),
a signed "ACK <code>" text takes the second; the incidents' timelines (read through
the API) say "via slack" and "via sms", and no secret reaches the log."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import free_port
from tests.notify.fakes import SlackApi, Twilio
from tests.polling import eventually
from tests.web.slack_clicks import body_of, click, payload
from tests.web.test_twilio_sms import reply

SLACK_TOKEN, SECRET = "xoxb-process-bot-token-42", "process-signing-secret-0123456789"
SID, TOKEN = "AC" + "4" * 32, "process-sms-auth-token-0123"
ALICE, SENDER = "+15550100001", "+15550009999"
API = "api-token-answers-0123456789"


def config_text(tmp_path: Path, port: int, slack: str, sms: str) -> str:
    dead = [free_port(), free_port()]
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
  api_token: "{API}"
storage:
  url: "sqlite:{tmp_path}/state.db"
checks:
  - {{name: web, type: tcp, target: "127.0.0.1:{dead[0]}", interval: 200ms, timeout: 200ms}}
  - {{name: db, type: tcp, target: "127.0.0.1:{dead[1]}", interval: 200ms, timeout: 200ms}}
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical}}
contacts:
  alice: {{phone: "{ALICE}", slack_user: U0ALICE, via: [sms]}}
channels:
  chat: {{type: slack, token: "{SLACK_TOKEN}", channel: "#ops", signing_secret: "{SECRET}",
         api_url: "{slack}/api/"}}
  text: {{type: sms, account_sid: "{SID}", auth_token: "{TOKEN}", from: "{SENDER}",
         api_url: "{sms}"}}
escalation:
  critical:
    - {{after: 0s, notify: [chat, alice]}}
notifications: {{retry_initial: 100ms, retry_max: 500ms}}
"""


async def api(port: int, path: str) -> Any:
    headers = {"Authorization": f"Bearer {API}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as r,
    ):
        assert r.status == 200, await r.text()
        return await r.json()


async def timeline_of(port: int, check: str) -> list[str]:
    incidents = (await api(port, "/api/v1/incidents"))["items"]
    (incident,) = [i for i in incidents if i["check"] == check]
    found = await api(port, f"/api/v1/incidents/{incident['id']}/timeline")
    return [e["text"] for e in found["timeline"]]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


async def test_a_click_and_a_text_acknowledge_in_a_real_process(tmp_path: Path) -> None:
    async with SlackApi(SLACK_TOKEN) as slack, Twilio(SID, TOKEN) as sms:
        port = free_port()
        config = tmp_path / "sentinel.yaml"
        config.write_text(config_text(tmp_path, port, slack.url, sms.url))
        log = tmp_path / "sentinel.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sentinel", "run", "-c", str(config),
                env={**os.environ, "SENTINEL_LOG_FORMAT": "json", "SENTINEL_LOG_LEVEL": "debug"},
                stdout=out, stderr=out,
            )  # fmt: skip
        try:
            await eventually(lambda: len(slack.messages) == 2 and len(sms.accepted) == 2, 30)
            web_msg = next(
                (key, m) for key, m in slack.messages.items() if m["text"].endswith(" web")
            )
            (channel, ts), message = web_msg
            ack = buttons(message)[0]
            assert ack["action_id"] == "sentinel_ack"
            body = body_of(payload("sentinel_ack", ack["value"], "U0ALICE", channel, ts))
            base = f"http://127.0.0.1:{port}"
            assert await click(base + "/slack/interactions", body, SECRET) == 200
            assert await click(base + "/slack/interactions", body, "forged-secret") == 401

            def edited() -> bool:
                shown = str(slack.messages[(channel, ts)]["blocks"])
                return "ACKNOWLEDGED by alice via slack" in shown

            await eventually(edited)
            assert buttons(slack.messages[(channel, ts)]) == []
            assert "acknowledged by alice via slack" in await timeline_of(port, "web")

            text = next(
                r.form["Body"] for r in sms.accepted if re.search(r"\bdb\b", r.form["Body"])
            )
            found = re.search(r"Reply ACK (\d+)", text)
            assert found is not None, text
            status, answer = await reply(base, ALICE, f"ACK {found.group(1)}", token=TOKEN)
            assert status == 200
            assert "<Message>Acknowledged: ServiceDown on db.</Message>" in answer
            assert "acknowledged by alice via sms" in await timeline_of(port, "db")
            alerts = (await api(port, "/api/v1/alerts"))["items"]
            assert sorted(a["escalation"]["acknowledged_by"] for a in alerts) == [
                "alice via slack",
                "alice via sms",
            ]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
    logged = log.read_text()
    assert "slack_interaction_refused" in logged
    for secret in (SLACK_TOKEN, SECRET, TOKEN, SID):
        assert secret not in logged
