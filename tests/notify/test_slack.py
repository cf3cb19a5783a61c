"""Slack by bot token: threads, updates of the first message, and Web API errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr

from sentinel.config.models import SlackChannel
from sentinel.notify.base import DeliveryError, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.render import Renderer
from sentinel.notify.slack import SlackNotifier
from tests.notify.fakes import T0, Fault, SlackApi, SlackWebhook, alert, notice

TOKEN = "xoxb-1-2-slacktesttoken"


def now() -> float:
    return T0 + 3900


@pytest.fixture
async def slack() -> AsyncIterator[SlackApi]:
    async with SlackApi(TOKEN) as fake:
        yield fake


@pytest.fixture
async def notifier(slack: SlackApi) -> AsyncIterator[SlackNotifier]:
    channel = SlackChannel(type="slack", token=TOKEN, channel="#ops", api_url=slack.url + "/api")
    async with aiohttp.ClientSession() as session:
        yield SlackNotifier(channel, NotifierDeps(session, Renderer(), now))


def _text(payload: object) -> str:
    return json.dumps(payload)


async def test_first_message(slack: SlackApi, notifier: SlackNotifier) -> None:
    """The first notice posts to the channel and returns the channel ID and ts as its ref."""
    sent = await notifier.send(notice(), None, None)
    assert sent.ref is not None
    assert sent.ref["channel"] == "C0OPS"
    body = slack.accepted[0].json
    assert body["channel"] == "#ops"
    assert body["text"] == "[CRITICAL] ServiceDown production-api"
    assert "thread_ts" not in body
    assert body["attachments"][0]["color"] == "#d00000"
    rendered = _text(body)
    for fact in ("production-api", "connection refused", "2026-01-05T09:00Z", "alice"):
        assert fact in rendered
    assert json.dumps("*Labels*\nenv=prod, service=api") in rendered
    assert "<https://runbooks.example.com/service-down|Runbook>" in rendered
    assert "|Acknowledge>" in rendered


@pytest.mark.parametrize(
    ("kind", "header", "colour"),
    [
        ("acknowledged", "ACKNOWLEDGED by bob", "#8a8a8a"),
        ("resolved", "RESOLVED after 1h 5m", "#2eb67d"),
        ("escalation", "ESCALATED (step 1)", "#d00000"),
        ("repeat", "STILL FIRING", "#d00000"),
    ],
)
async def test_follow_up_threads_and_updates(
    slack: SlackApi, notifier: SlackNotifier, kind: str, header: str, colour: str
) -> None:
    """A later notice updates the first message's header and replies in its thread."""
    first = await notifier.send(notice(), None, None)
    assert first.ref is not None
    sent = await notifier.send(notice(kind), None, first.ref)
    update, reply = slack.accepted[1].json, slack.accepted[2].json
    assert slack.accepted[1].path == "/api/chat.update"
    assert (update["channel"], update["ts"]) == (first.ref["channel"], first.ref["ts"])
    assert header in update["blocks"][0]["text"]["text"]
    assert update["attachments"][0]["color"] == colour
    assert slack.messages[("C0OPS", first.ref["ts"])]["blocks"] == update["blocks"]
    assert reply["thread_ts"] == first.ref["ts"]
    assert sent.ref is not None
    assert sent.ref["ts"] != first.ref["ts"]


async def test_ack_link_dropped_once_acknowledged(slack: SlackApi, notifier: SlackNotifier) -> None:
    """The updated first message no longer offers the ack link after acknowledgement."""
    first = await notifier.send(notice(), None, None)
    await notifier.send(notice("acknowledged"), None, first.ref)
    assert "|Acknowledge>" not in _text(slack.accepted[1].json)


async def test_follow_up_without_thread_posts_new(slack: SlackApi, notifier: SlackNotifier) -> None:
    """Without a thread ref a later notice is a new message, with no update."""
    await notifier.send(notice("escalation"), None, None)
    assert [r.path for r in slack.accepted] == ["/api/chat.postMessage"]
    assert "thread_ts" not in slack.accepted[0].json


async def test_uneditable_first_message_still_replies(
    slack: SlackApi, notifier: SlackNotifier
) -> None:
    """When the first message can no longer be edited, the thread reply still goes out."""
    first = await notifier.send(notice(), None, None)
    slack.inject(Fault(200, {"ok": False, "error": "cant_update_message"}))
    await notifier.send(notice("resolved"), None, first.ref)
    assert slack.accepted[-1].json["thread_ts"] == first.ref["ts"]  # type: ignore[index]


async def test_deleted_first_message_posts_in_channel(
    slack: SlackApi, notifier: SlackNotifier
) -> None:
    """When the first message was deleted, the follow-up is posted in the channel itself."""
    first = await notifier.send(notice(), None, None)
    assert first.ref is not None
    del slack.messages[("C0OPS", first.ref["ts"])]
    sent = await notifier.send(notice("resolved"), None, first.ref)
    assert [r.path for r in slack.accepted] == ["/api/chat.postMessage"] * 2
    assert "thread_ts" not in slack.accepted[1].json
    assert sent.ref is not None
    assert sent.ref["channel"] == "C0OPS"


async def test_update_failure_sends_no_reply(slack: SlackApi, notifier: SlackNotifier) -> None:
    """A transient failure of the update is retried whole, so the reply is never doubled."""
    first = await notifier.send(notice(), None, None)
    slack.inject(Fault(503, "unavailable"))
    with pytest.raises(DeliveryError) as info:
        await notifier.send(notice("acknowledged"), None, first.ref)
    assert info.value.retry
    assert len(slack.accepted) == 1
    await notifier.send(notice("acknowledged"), None, first.ref)
    assert [r.path for r in slack.accepted[1:]] == ["/api/chat.update", "/api/chat.postMessage"]


async def test_address_overrides_channel(slack: SlackApi, notifier: SlackNotifier) -> None:
    """A contact's @user or #channel replaces the configured channel."""
    sent = await notifier.send(notice(), "@alice", None)
    assert slack.accepted[0].json["channel"] == "@alice"
    assert sent.ref == {"channel": "D0ALICE", "ts": sent.ref["ts"]}  # type: ignore[index]


async def test_unknown_channel_is_permanent(notifier: SlackNotifier) -> None:
    """A channel Slack does not know is a permanent "channel" error."""
    with pytest.raises(DeliveryError) as info:
        await notifier.send(notice(), "#nope", None)
    assert (info.value.retry, info.value.reason) == (False, "channel")
    assert "channel_not_found" in info.value.detail


@pytest.mark.parametrize(
    ("code", "retry", "reason"),
    [
        ("ratelimited", True, "rate_limited"),
        ("internal_error", True, "server_error"),
        ("fatal_error", True, "server_error"),
        ("service_unavailable", True, "server_error"),
        ("request_timeout", True, "server_error"),
        ("invalid_auth", False, "auth"),
        ("not_authed", False, "auth"),
        ("account_inactive", False, "auth"),
        ("token_revoked", False, "auth"),
        ("channel_not_found", False, "channel"),
        ("not_in_channel", False, "channel"),
        ("is_archived", False, "channel"),
        ("invalid_blocks", False, "payload"),
        ("msg_too_long", False, "payload"),
        ("something_new", False, "rejected"),
        ("Not A Code <script>", False, "rejected"),
    ],
)
async def test_api_errors(
    slack: SlackApi, notifier: SlackNotifier, code: str, retry: bool, reason: str
) -> None:
    """HTTP 200 with ok:false is classified by its error code."""
    slack.inject(Fault(200, {"ok": False, "error": code}, {"Retry-After": "0.25"}))
    with pytest.raises(DeliveryError) as info:
        await notifier.send(notice(), None, None)
    assert (info.value.retry, info.value.reason) == (retry, reason)
    assert info.value.retry_after == (0.25 if retry else None)
    assert "<script>" not in str(info.value)


async def test_non_json_reply_is_permanent(slack: SlackApi, notifier: SlackNotifier) -> None:
    """A 200 text/plain reply (a proxy page) is an unexpected response, not a crash."""
    slack.inject(Fault(200, "hello from a proxy"))
    with pytest.raises(DeliveryError) as info:
        await notifier.send(notice(), None, None)
    assert (info.value.retry, info.value.reason) == (False, "unexpected_response")


async def test_mrkdwn_is_escaped(slack: SlackApi, notifier: SlackNotifier) -> None:
    """Alert text cannot ping @channel or forge links."""
    await notifier.send(
        notice(alert=alert(summary="<!channel> see <http://x|y> & more")), None, None
    )
    rendered = _text(slack.accepted[0].json)
    assert "<!channel>" not in rendered
    assert "&lt;!channel&gt;" in rendered


async def test_webhook_mode_ignores_address_and_thread() -> None:
    """A webhook posts to its own channel, without threads, and answers no ref."""
    async with SlackWebhook("hookpath") as hook, aiohttp.ClientSession() as session:
        channel = SlackChannel(type="slack", webhook_url=hook.hook_url)
        n = SlackNotifier(channel, NotifierDeps(session, Renderer(), now))
        assert (
            await n.send(notice("resolved"), "#elsewhere", {"channel": "C1", "ts": "1.2"}) == Sent()
        )
        body = hook.accepted[0].json
        assert "channel" not in body
        assert "thread_ts" not in body
        assert body["text"] == "[RESOLVED] ServiceDown production-api"
        hook.inject(Fault(200, "not ok"))
        with pytest.raises(DeliveryError) as info:
            await n.send(notice(), None, None)
        assert (info.value.retry, info.value.reason) == (False, "unexpected_response")


async def test_buttons_only_with_a_signing_secret_and_while_unacknowledged(
    slack: SlackApi,
) -> None:
    """Without ``signing_secret`` no button (nobody would hear the press); with it, the
    first message carries Acknowledge and Silence 1h valued with the firing, and the
    acknowledged edit of that message drops them."""
    plain = SlackChannel(type="slack", token=TOKEN, channel="#ops", api_url=slack.url + "/api")
    answered = plain.model_copy(update={"signing_secret": SecretStr("s3cret-signing")})
    async with aiohttp.ClientSession() as session:
        without = SlackNotifier(plain, NotifierDeps(session, Renderer(), now))
        with_ = SlackNotifier(answered, NotifierDeps(session, Renderer(), now))
        await without.send(notice(), None, None)
        sent = await with_.send(notice(), None, None)
        assert sent.ref is not None
        await with_.send(notice("acknowledged", acked_by="bob via sms"), None, sent.ref)
    first, second = slack.accepted[0].json, slack.accepted[1].json
    assert [b for b in first["blocks"] if b["type"] == "actions"] == []
    (actions,) = [b for b in second["blocks"] if b["type"] == "actions"]
    firing = alert().firing
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("sentinel_ack", firing),
        ("sentinel_silence_1h", firing),
    ]
    (update,) = slack.updates
    assert "ACKNOWLEDGED by bob via sms" in _text(update["blocks"])
    assert [b for b in update["blocks"] if b["type"] == "actions"] == []
