"""Slack's buttons through the whole daemon on loopback: an alert message carries
Acknowledge and Silence 1h; a click signed with the app's signing secret acknowledges
as the contact whose Slack member ID clicked, and the message is edited in place
(chat.update on the Slack fake) to say who; a second click hears "Already acknowledged
by ..."; forged, stale, replayed and unsigned clicks are 401 and counted by reason.
The daemon runs on a fake clock the test moves, set to the real time at the start:
Slack stamps its requests with the real time, and a stale one is judged on the
daemon's clock (the HTTP is real)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry

from sentinel.app.daemon import Daemon
from sentinel.clock import FakeClock
from sentinel.config import load_config, secret_values
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from sentinel.metrics import Metrics
from sentinel.probes.results import LatestResults
from sentinel.web.slack_interactions import Replays, click_of, verify
from tests.conftest import free_port
from tests.notify.fakes import PagerDuty, SlackApi
from tests.polling import Probe, run_daemon_until
from tests.web.slack_clicks import body_of, click, payload, sign

TOKEN, SECRET = "xoxb-slack-bot-token-0123", "slack-signing-secret-abcdef0123456789"
ALICE, BOB, STRANGER = "U0ALICE", "U0BOB", "U0NOBODY"
WITHIN = 5.0  # fake seconds: a result, the firing, the message (or an answer's follow-up)


def config_text(tmp_path: Path, port: int, slack: str, pd: str = "http://127.0.0.1:9") -> str:
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
storage:
  url: "sqlite:{tmp_path}/state.db"
checks:
  - {{name: dead, type: tcp, target: "127.0.0.1:{free_port()}", interval: 200ms, timeout: 200ms}}
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical}}
contacts:
  alice: {{slack_user: "{ALICE}", email: alice@example.com}}
  bob: {{slack: "{BOB}", email: bob@example.com}}
channels:
  chat: {{type: slack, token: "{TOKEN}", channel: "#ops", signing_secret: "{SECRET}",
         api_url: "{slack}/api/"}}
  pd: {{type: pagerduty, routing_key: "{"r" * 32}", api_url: "{pd}"}}
escalation:
  critical:
    - {{after: 0s, notify: [chat, pd]}}
notifications: {{retry_initial: 100ms, retry_max: 500ms}}
"""


@pytest.fixture
async def slack() -> AsyncIterator[SlackApi]:
    async with SlackApi(TOKEN) as fake:
        yield fake


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDuty]:
    async with PagerDuty() as fake:
        yield fake


@pytest.fixture
async def daemon(tmp_path: Path, slack: SlackApi, pagerduty: PagerDuty) -> AsyncIterator[Daemon]:
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, free_port(), slack.url, pagerduty.url))
    config = load_config(path, {})
    redactor = Redactor()
    redactor.set_secrets(secret_values(config))
    clock = FakeClock(datetime.now(UTC))  # Slack's request timestamps are real time
    d = Daemon(config, Settings(config=str(path)), clock, {}, redactor)
    await d.start()
    yield d
    await d.stop()
    structlog.reset_defaults()


def url(daemon: Daemon) -> str:
    host, port = daemon.listening[0]
    return f"http://{host}:{port}/slack/interactions"


async def until(daemon: Daemon, probe: Probe) -> None:
    """Run the daemon on its fake clock until ``probe`` answers true."""
    await run_daemon_until(daemon, probe, WITHIN)


async def first_message(daemon: Daemon, slack: SlackApi) -> tuple[str, str, dict[str, Any]]:
    """The alert's message: its channel, ts, and the value its buttons carry."""
    await until(daemon, lambda: len(slack.messages) == 1)
    (channel, ts), message = next(iter(slack.messages.items()))
    return channel, ts, message


def actions(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


async def timeline(daemon: Daemon, fp: str) -> list[str]:
    found = await daemon.store.incident(daemon.escalator.journal.open[fp].id)
    assert found is not None
    return [e.text for e in found[1]]


def refusals(daemon: Daemon, reason: str) -> float:
    value = daemon.metrics.registry.get_sample_value(
        "sentinel_answers_refused_total", {"via": "slack", "reason": reason}
    )
    return value or 0.0


async def test_the_message_carries_both_buttons_valued_with_the_firing(
    daemon: Daemon, slack: SlackApi
) -> None:
    _, _, message = await first_message(daemon, slack)
    fp = next(iter(daemon.escalator.progress))
    firing = daemon.escalator.facts[fp].firing
    buttons = actions(message)
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in buttons] == [
        ("Acknowledge", "sentinel_ack", firing),
        ("Silence 1h", "sentinel_silence_1h", firing),
    ]


async def test_a_signed_click_acknowledges_and_the_message_says_who(
    daemon: Daemon, slack: SlackApi, pagerduty: PagerDuty
) -> None:
    """Acknowledged as alice; Slack's message edited, PagerDuty's incident acknowledged
    (the same dedup key), the timeline says via slack; bob's later press hears who."""
    channel, ts, message = await first_message(daemon, slack)
    value = actions(message)[0]["value"]
    fp = value.split("@")[0]
    body = body_of(payload("sentinel_ack", value, ALICE, channel, ts))
    assert await click(url(daemon), body, SECRET) == 200
    assert daemon.escalator.progress[fp].acked_by == "alice via slack"
    # The acknowledgement's own follow-up edits the message: header says who, no buttons.
    await until(daemon, lambda: any(u["ts"] == ts for u in slack.updates))
    edited = slack.messages[(channel, ts)]
    assert "ACKNOWLEDGED by alice via slack" in edited["text"] + str(edited["blocks"])
    assert actions(edited) == []
    assert "acknowledged by alice via slack" in await timeline(daemon, fp)
    await until(daemon, lambda: pagerduty.incidents.get(fp) == "acknowledged")
    assert [r.json["event_action"] for r in pagerduty.accepted] == ["trigger", "acknowledge"]

    # bob (named by his `slack:` member ID) presses it too: he is told who had it.
    updates = len(slack.updates)
    body = body_of(payload("sentinel_ack", value, BOB, channel, ts))
    assert await click(url(daemon), body, SECRET) == 200
    await until(daemon, lambda: len(slack.ephemeral) == 1)
    assert slack.ephemeral[0]["user"] == BOB
    assert slack.ephemeral[0]["text"] == "Already acknowledged by alice via slack."
    assert len(slack.updates) == updates + 1  # the message brought up to date in place
    assert daemon.escalator.progress[fp].acked_by == "alice via slack"


async def test_forged_stale_replayed_and_unsigned_clicks_are_refused_and_counted(
    daemon: Daemon, slack: SlackApi
) -> None:
    channel, ts, message = await first_message(daemon, slack)
    value = actions(message)[0]["value"]
    fp = value.split("@")[0]
    body = body_of(payload("sentinel_ack", value, ALICE, channel, ts))
    now = int(daemon.clock.now().timestamp())
    assert await click(url(daemon), body, "another-apps-secret") == 401
    assert await click(url(daemon), body, SECRET, timestamp=now - 301) == 401
    assert await click(url(daemon), body, SECRET, timestamp=now + 301) == 401
    assert await click(url(daemon), body, None) == 401
    tampered = body_of(payload("sentinel_ack", value, BOB, channel, ts))
    assert await click(url(daemon), tampered, SECRET, signature=sign(SECRET, body, now)) == 401
    assert await click(url(daemon), body, SECRET, timestamp=now, signature="v0=zz") == 401
    assert not daemon.escalator.progress[fp].acked
    # The same signed request twice: the second is a replay.
    signature = sign(SECRET, body, now)
    assert await click(url(daemon), body, SECRET, timestamp=now, signature=signature) == 200
    assert await click(url(daemon), body, SECRET, timestamp=now, signature=signature) == 401
    counted = {r: refusals(daemon, r) for r in ("forged", "stale", "unsigned", "replayed")}
    assert counted == {"forged": 3.0, "stale": 2.0, "unsigned": 1.0, "replayed": 1.0}


async def test_an_unknown_slack_user_is_told_and_nothing_is_acknowledged(
    daemon: Daemon, slack: SlackApi
) -> None:
    channel, ts, message = await first_message(daemon, slack)
    value = actions(message)[0]["value"]
    body = body_of(payload("sentinel_ack", value, STRANGER, channel, ts))
    assert await click(url(daemon), body, SECRET) == 200
    await until(daemon, lambda: len(slack.ephemeral) == 1)
    assert slack.ephemeral[0]["user"] == STRANGER
    assert f"slack_user: {STRANGER}" in slack.ephemeral[0]["text"]
    assert not daemon.escalator.progress[value.split("@")[0]].acked


async def test_silence_1h_silences_the_alert_and_says_so_in_the_thread(
    daemon: Daemon, slack: SlackApi
) -> None:
    channel, ts, message = await first_message(daemon, slack)
    value = actions(message)[1]["value"]
    fp = value.split("@")[0]
    body = body_of(payload("sentinel_silence_1h", value, ALICE, channel, ts))
    assert await click(url(daemon), body, SECRET) == 200
    (silence,) = daemon.facade.list_silences()
    assert silence["matchers"] == {"alertname": "ServiceDown", "check": "dead"}
    assert silence["author"] == "alice via slack"
    ends = datetime.fromisoformat(silence["ends_at"]) - daemon.clock.now()
    assert timedelta(minutes=59) < ends <= timedelta(hours=1)

    def replies() -> list[dict[str, Any]]:
        return [m for m in slack.messages.values() if m.get("thread_ts") == ts]

    await until(daemon, lambda: len(replies()) == 1)
    assert replies()[0]["text"].startswith("Silenced for 1h by alice (until ")
    assert any(t.startswith("silenced until ") and "alice via slack" in t
               for t in await timeline(daemon, fp))  # fmt: skip
    assert not daemon.escalator.progress[fp].acked


async def test_a_click_on_an_earlier_outage_acts_on_nothing(
    daemon: Daemon, slack: SlackApi
) -> None:
    channel, ts, message = await first_message(daemon, slack)
    value = actions(message)[0]["value"]
    fp, fired = value.split("@")
    body = body_of(payload("sentinel_ack", f"{fp}@{int(fired) - 60_000}", ALICE, channel, ts))
    assert await click(url(daemon), body, SECRET) == 200
    await until(daemon, lambda: len(slack.ephemeral) == 1)
    assert slack.ephemeral[0]["text"] == "This alert is no longer firing."
    assert not daemon.escalator.progress[fp].acked


# -- the pure parts ------------------------------------------------------------


def test_verify_names_the_channel_or_the_reason(tmp_path: Path) -> None:
    """The signing secret's channel for a good signature; unsigned, stale (more than
    5 minutes either way, by the injected clock) and forged otherwise."""
    path = tmp_path / "s.yaml"
    path.write_text(config_text(tmp_path, free_port(), "http://127.0.0.1:9"))
    config = load_config(path, {})
    clock = FakeClock(datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
    now = int(clock.now().timestamp())
    body = body_of(payload("sentinel_ack", "f@1", ALICE))
    assert verify(body, str(now), sign(SECRET, body, now), config, clock) == "chat"
    assert verify(body, str(now - 300), sign(SECRET, body, now - 300), config, clock) == "chat"
    assert verify(body, str(now - 301), sign(SECRET, body, now - 301), config, clock) == "stale"
    assert verify(body, "12a", sign(SECRET, body, now), config, clock) == "stale"
    assert verify(body, None, sign(SECRET, body, now), config, clock) == "unsigned"
    assert verify(body, str(now), "", config, clock) == "unsigned"
    assert verify(body, str(now), sign("x", body, now), config, clock) == "forged"
    assert verify(b"\xff" + body, str(now), sign(SECRET, body, now), config, clock) == "forged"


def test_replays_remember_a_signature_for_the_window_only() -> None:
    seen = Replays()
    assert seen.first_time("v0=a", 1000.0)
    assert not seen.first_time("v0=a", 1299.0)
    assert seen.first_time("v0=b", 1299.0)
    assert seen.first_time("v0=a", 1301.0)  # forgotten: its timestamp is stale by now


def test_click_of_reads_block_actions_only() -> None:
    good = click_of(body_of(payload("sentinel_ack", "f@1", ALICE, "C1", "9.1")))
    assert good is not None
    assert (good.action, good.fingerprint, good.user, good.channel, good.ts) == (
        "sentinel_ack", "f", ALICE, "C1", "9.1"
    )  # fmt: skip
    assert click_of(b"payload=not-json") is None
    assert click_of(body_of({"type": "view_submission"})) is None
    assert click_of(body_of({**payload("a", "v", ALICE), "actions": []})) is None
    assert click_of(b"\xff\xfe") is None


def test_metrics_list_every_refusal_reason_up_front() -> None:
    """The refusal counters exist at zero before the first refusal (dashboards, alerts)."""
    m = Metrics(CollectorRegistry(), LatestResults(), "test")
    for reason in ("unsigned", "stale", "forged", "replayed"):
        labels = {"via": "slack", "reason": reason}
        assert m.registry.get_sample_value("sentinel_answers_refused_total", labels) == 0.0
