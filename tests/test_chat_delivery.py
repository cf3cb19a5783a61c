"""Teams, Discord and Mattermost through a real sentinel process, against their fakes on
loopback: a dead port pages all three, an acknowledgement edits Discord's first
message and is a new post on the other two, and neither the process's logs nor its
API answers hold a webhook URL's secret."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from sentinel.cli.main import main
from sentinel.cli.notify import notify_test
from sentinel.clock import SystemClock
from sentinel.config import load_config
from tests.conftest import free_port
from tests.notify.fakes import DiscordWebhook, Fault, MattermostHook, TeamsWorkflow
from tests.polling import eventually

TOKEN = "api-token-0123456789"
SIG = "teamsSIGsecretE2E0123456"
DISCORD = "discordE2Esecret-token-0123456789"
KEY = "mattermoste2ekey0123456789"


def config_text(tmp: Path, port: int, teams: str, discord: str, mm: str) -> str:
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
  api_token: "{TOKEN}"
storage:
  url: "sqlite:{tmp}/state.db"
checks:
  - {{name: dead, type: tcp, target: "127.0.0.1:{free_port()}", interval: 200ms, timeout: 200ms}}
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical}}
channels:
  teams: {{type: teams, webhook_url: "{teams}"}}
  discord: {{type: discord, webhook_url: "{discord}", username: sentinel}}
  mattermost: {{type: mattermost, webhook_url: "{mm}", channel: alerts}}
escalation:
  critical:
    - {{after: 0s, notify: [teams, discord, mattermost]}}
notifications: {{retry_initial: 100ms, retry_max: 300ms}}
"""


async def test_a_real_process_pages_teams_discord_and_mattermost(tmp_path: Path) -> None:
    async with (
        TeamsWorkflow(SIG) as teams,
        DiscordWebhook(DISCORD) as discord,
        MattermostHook(KEY) as mm,
    ):
        port = free_port()
        path = tmp_path / "sentinel.yaml"
        path.write_text(
            config_text(tmp_path, port, teams.hook_url(), discord.hook_url(), mm.hook_url())
        )
        # Each provider fails once first, echoing the URL it was called with: the
        # retries are logged, and what is logged must not hold the secret.
        for fake, url in (
            (teams, teams.hook_url()),
            (discord, discord.hook_url()),
            (mm, mm.hook_url()),
        ):
            fake.inject(Fault(503, {"message": url, "error": {"code": url}}, {"Retry-After": "0"}))
        log = tmp_path / "sentinel.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sentinel",
                "run",
                "-c",
                str(path),
                env={**os.environ, "SENTINEL_LOG_FORMAT": "json"},
                stdout=out,
                stderr=out,
            )
            try:
                await eventually(lambda: bool(teams.cards and discord.messages and mm.accepted))
                ack_url = next(
                    a["url"] for a in teams.cards[0]["actions"] if a["title"] == "Acknowledge"
                )
                fp = ack_url.split("/ack/")[1].split("/")[0]
                headers = {"Authorization": f"Bearer {TOKEN}"}
                async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                    async with http.post(
                        f"/api/v1/alerts/{fp}/ack", json={"by": "alice"}, headers=headers
                    ) as resp:
                        assert resp.status == 200
                    await eventually(lambda: len(discord.edits) == 1)
                    await eventually(lambda: len(teams.cards) == 2 and len(mm.accepted) == 2)
                    async with http.get("/api/v1/config", headers=headers) as resp:
                        config_answer = await resp.text()
                    async with http.get("/api/v1/status", headers=headers) as resp:
                        status_answer = await resp.text()
            finally:
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert len(discord.messages) == 1  # the acknowledgement edited the first message
    title = discord.edits[0][1]["embeds"][0]["title"]
    assert title == "ACKNOWLEDGED by alice via api: ServiceDown on dead"
    assert teams.cards[1]["body"][0]["items"][0]["text"].startswith("ACKNOWLEDGED by alice")
    assert mm.accepted[1].json["attachments"][0]["title"].startswith("ACKNOWLEDGED by alice")
    text = log.read_text()
    assert "notify_retry_scheduled" in text
    assert "notification_sent" in text
    for secret in (SIG, DISCORD, KEY):
        for where, answer in (("log", text), ("config", config_answer), ("status", status_answer)):
            assert secret not in answer, f"{secret} in the {where}"


async def test_notify_test_and_simulate_know_the_new_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """notify-test delivers through each (exit 0) and says why not without the secret
    (exit 1); simulate shows each channel's notices and sends nothing."""
    async with (
        TeamsWorkflow(SIG) as teams,
        DiscordWebhook(DISCORD) as discord,
        MattermostHook(KEY) as mm,
    ):
        path = tmp_path / "sentinel.yaml"
        path.write_text(
            config_text(tmp_path, free_port(), teams.hook_url(), discord.hook_url(), mm.hook_url())
        )
        config = load_config(path, {})
        for name in ("teams", "discord", "mattermost"):
            assert await notify_test(config, name, None, SystemClock()) == 0
            assert capsys.readouterr().out.strip() == f"{name}: delivered"
        assert "Test message from sentinel" in teams.accepted[0].body.decode()
        assert discord.accepted[0].json["embeds"][0]["title"] == "[TEST] sentinel test notification"
        assert mm.accepted[0].json["text"] == "[TEST] sentinel test notification"
        bad = config_text(
            tmp_path,
            free_port(),
            teams.hook_url("wrongSIG000000000"),
            discord.hook_url("wrong-token-00000000"),
            mm.hook_url("wrongkey000000000000000000"),
        )
        path.write_text(bad)
        config = load_config(path, {})
        for name in ("teams", "discord", "mattermost"):
            assert await notify_test(config, name, None, SystemClock()) == 1
            err = capsys.readouterr().err
            assert "permanent" in err
            assert "wrong" not in err
        sent_before = teams.seen + discord.seen + mm.seen
        scenario = tmp_path / "scenario.yaml"
        scenario.write_text("until: 2m\nevents:\n  - {at: 10s, check: dead, fail: refused}\n")
        assert (
            await asyncio.to_thread(
                main, ["simulate", "-c", str(path), "--scenario", str(scenario)]
            )
            == 0
        )
        out = capsys.readouterr().out
        for name in ("teams", "discord", "mattermost"):
            assert f"-> {name}  firing ServiceDown dead" in out
        assert teams.seen + discord.seen + mm.seen == sent_before
