"""What is particular to ntfy and Telegram, against their strict local fakes (the
conformance suite every provider passes is test_providers.py, where both have a case)."""

from __future__ import annotations

from email.header import decode_header, make_header

import aiohttp
import pytest
from pydantic import ValidationError

from sentinel.config.models import NtfyChannel, TelegramChannel
from sentinel.notify import build_notifier
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.ntfy import MESSAGE_LIMIT, NtfyNotifier, quoted
from sentinel.notify.render import Renderer
from sentinel.notify.telegram import TEXT_LIMIT, TelegramNotifier
from tests.notify.fakes import Ntfy, TelegramBot, alert, notice, telegram_html
from tests.notify.test_providers import (
    NTFY_TOKEN,
    TG_TOKEN,
    TOPIC,
    _failure,
    assert_no_secret,
    now,
    session,
)

__all__ = ["session"]


async def test_build_notifier_sets_limits(session: aiohttp.ClientSession) -> None:
    """The registry builds both types with their rate limits."""
    tg = TelegramChannel(type="telegram", token=TG_TOKEN, chat_id="@ops_alerts")
    built = build_notifier("tg", tg, NotifierDeps(session, Renderer(), now))
    assert isinstance(built, TelegramNotifier)
    assert built.min_interval == 3.0
    ntfy = NtfyChannel(type="ntfy", url=f"https://ntfy.sh/{TOPIC}")
    assert isinstance(
        build_notifier("n", ntfy, NotifierDeps(session, Renderer(), now)), NtfyNotifier
    )


# -- ntfy ----------------------------------------------------------------------


async def test_ntfy_message(session: aiohttp.ClientSession) -> None:
    """Title, priority by severity, tags, the ack link as click and action."""
    async with Ntfy(TOPIC, basic="alerts:pw-secret") as server:
        channel = NtfyChannel(
            type="ntfy", url=f"{server.url}/{TOPIC}", username="alerts", password="pw-secret"
        )
        n = NtfyNotifier(channel, NotifierDeps(session, Renderer(), now))
        sent = await n.send(notice(), None, None)
        assert sent.ref == {"id": server.messages[0]["id"]}
        first = server.messages[0]
        assert first["title"] == "[CRITICAL] ServiceDown production-api"
        assert first["priority"] == 5
        assert first["tags"] == ["rotating_light", "sentinel"]
        assert first["click"] == alert().ack_url
        assert "connection refused" in first["message"]
        actions = server.accepted[0].headers["Actions"]
        assert actions.startswith(f"view, Acknowledge, {alert().ack_url}")
        priorities = {}
        for severity in ("high", "medium", "low"):
            await n.send(notice(alert=alert(severity=severity)), None, None)
            priorities[severity] = server.messages[-1]["priority"]
        assert priorities == {"high": 4, "medium": 3, "low": 2}
        await n.send(notice("resolved"), None, None)
        assert (server.messages[-1]["priority"], server.messages[-1]["tags"][0]) == (
            2,
            "white_check_mark",
        )
        assert "click" not in server.messages[-1]


async def test_ntfy_limits(session: aiohttp.ClientSession) -> None:
    """A long message is cut to 4096 bytes (on a character boundary); a non-Latin-1
    title is RFC 2047 encoded; the fake refuses both when sent raw."""
    async with Ntfy(TOPIC) as server:
        channel = NtfyChannel(type="ntfy", url=f"{server.url}/{TOPIC}")
        n = NtfyNotifier(channel, NotifierDeps(session, Renderer(), now))
        long = alert(summary="Überlast " * 1000, rule="Überlast→")
        await n.send(notice(alert=long), None, None)
        body = server.accepted[-1].body
        assert len(body) <= MESSAGE_LIMIT
        body.decode()  # whole characters only
        assert server.accepted[-1].headers["Title"].startswith("=?utf-8?b?")
        async with session.post(f"{server.url}/{TOPIC}", data=b"x" * (MESSAGE_LIMIT + 1)) as r:
            assert r.status == 413
        async with session.post(f"{server.url}/{TOPIC}", data=b"") as r:
            assert r.status == 400
        # Without the credentials a protected topic refuses: permanent, channel broken.
    async with Ntfy(TOPIC, token=NTFY_TOKEN) as server:
        bare = NtfyChannel(type="ntfy", url=f"{server.url}/{TOPIC}")
        error = await _failure(NtfyNotifier(bare, NotifierDeps(session, Renderer(), now)))
        assert (error.retry, error.reason) == (False, "auth")
        wrong = NtfyChannel(type="ntfy", url=f"{server.url}/{TOPIC}", token="tk_wrong")
        error = await _failure(NtfyNotifier(wrong, NotifierDeps(session, Renderer(), now)))
        assert (error.retry, error.reason) == (False, "forbidden")
        assert "code 40301" in error.detail


def test_ntfy_config_is_checked() -> None:
    """The URL must name a topic; a token and a password together are refused."""
    with pytest.raises(ValidationError, match="topic's URL"):
        NtfyChannel(type="ntfy", url="https://ntfy.sh/")
    with pytest.raises(ValidationError, match="not both"):
        NtfyChannel(type="ntfy", url="https://ntfy.sh/a", token="t", username="u", password="p")


# -- Telegram ------------------------------------------------------------------


def _tg(session: aiohttp.ClientSession, url: str, chat: int | str = -100123) -> TelegramNotifier:
    channel = TelegramChannel(type="telegram", token=TG_TOKEN, chat_id=chat, api_url=url)
    return TelegramNotifier(channel, NotifierDeps(session, Renderer(), now))


async def test_telegram_message_is_escaped_html(session: aiohttp.ClientSession) -> None:
    """Text with <, > and & in it is escaped so Telegram parses it; buttons carry the
    ack link and the runbook; the ref names the chat and the message."""
    async with TelegramBot(TG_TOKEN) as bot:
        n = _tg(session, bot.url, "@ops_alerts")
        nasty = alert(summary="p99 <b>500ms</b> & rising > 3 <script>", reason="a<b")
        sent = await n.send(notice(alert=nasty), None, None)
        assert sent.ref == {"chat_id": "-100123", "message_id": "1"}
        body = bot.accepted[0].json
        assert body["parse_mode"] == "HTML"
        shown = telegram_html(body["text"])
        assert shown is not None
        assert "p99 <b>500ms</b> & rising > 3 <script>" in shown
        buttons = body["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Acknowledge", "Runbook"]
        assert buttons[0]["url"] == alert().ack_url
        # the fake is strict: the same text unescaped is refused
        async with session.post(
            f"{bot.url}/bot{TG_TOKEN}/sendMessage",
            json={"chat_id": -100123, "text": "a < b & c", "parse_mode": "HTML"},
        ) as r:
            assert r.status == 400


async def test_telegram_long_text_fits(session: aiohttp.ClientSession) -> None:
    """A notice longer than 4096 characters (after escaping is undone) is cut to fit."""
    async with TelegramBot(TG_TOKEN) as bot:
        n = _tg(session, bot.url)
        await n.send(notice(alert=alert(description="<&>" * 5000, summary="x" * 5000)), None, None)
        shown = telegram_html(bot.accepted[0].json["text"])
        assert shown is not None
        assert len(shown) <= TEXT_LIMIT


async def test_telegram_follow_ups_edit_the_first_message(
    session: aiohttp.ClientSession,
) -> None:
    """Acknowledged and resolved edit the first message's headline (no buttons once
    acknowledged) and reply to it; an edit that changes nothing, or of a deleted
    message, still lets the reply go out."""
    async with TelegramBot(TG_TOKEN) as bot:
        n = _tg(session, bot.url)
        first = await n.send(notice(), None, None)
        assert first.ref is not None
        await n.send(notice("acknowledged"), None, first.ref)
        root = bot.messages[(-100123, 1)]
        shown = telegram_html(root["text"]) or ""
        assert "ACKNOWLEDGED by bob" in shown
        assert "Reason: connection refused" in shown  # the facts stay on the first message
        assert str(alert().ack_url) not in shown  # no ack link once acknowledged
        assert root["reply_markup"] is None or "Acknowledge" not in str(root["reply_markup"])
        reply = bot.accepted[-1].json
        assert reply["reply_parameters"]["message_id"] == 1
        await n.send(notice("acknowledged"), None, first.ref)  # not modified: tolerated
        await n.send(notice("resolved"), None, first.ref)
        assert "RESOLVED after 1h 5m" in (telegram_html(root["text"]) or "")
        assert len(bot.edits) == 2
        del bot.messages[(-100123, 1)]
        await n.send(notice("repeat"), None, first.ref)  # the root is gone: reply anyway
        assert bot.accepted[-1].json["reply_parameters"]["allow_sending_without_reply"]


async def test_telegram_permanent_errors(session: aiohttp.ClientSession) -> None:
    """Wrong token (401), unknown chat (400), bot kicked from the chat (403)."""
    async with TelegramBot("987654321:AAEanotherTokenThatIsNotOurs_012345") as bot:
        error = await _failure(_tg(session, bot.url))
        assert (error.retry, error.reason) == (False, "auth")
        assert_no_secret(error)
    async with TelegramBot(TG_TOKEN) as bot:
        error = await _failure(_tg(session, bot.url, 777))
        assert (error.retry, error.reason) == (False, "bad_request")
        assert "chat not found" in error.detail
        bot.kicked.add(-100123)
        error = await _failure(_tg(session, bot.url))
        assert (error.retry, error.reason) == (False, "forbidden")


def test_telegram_config_is_checked() -> None:
    """A token that is not a bot token is refused without repeating it."""
    with pytest.raises(ValidationError, match="BotFather"):
        TelegramChannel(type="telegram", token="not-a-token-secret", chat_id=1)
    with pytest.raises(ValidationError):
        TelegramChannel(type="telegram", token=TG_TOKEN, chat_id="ops")


async def test_ntfy_long_unicode_title_is_one_header_line(
    session: aiohttp.ClientSession,
) -> None:
    """A long title outside Latin-1 is one RFC 2047 word on one line (folding it would put
    a newline in an HTTP header), and decodes back to the subject."""
    async with Ntfy(TOPIC) as server:
        channel = NtfyChannel(type="ntfy", url=f"{server.url}/{TOPIC}")
        n = NtfyNotifier(channel, NotifierDeps(session, Renderer(), now))
        await n.send(notice(alert=alert(rule="Überlast→", check="x" * 120)), None, None)
        title = server.accepted[-1].headers["Title"]
        assert "\n" not in title
        decoded = str(make_header(decode_header(title)))
        assert decoded == f"[CRITICAL] Überlast→ {'x' * 120}"


def test_ntfy_action_urls_with_commas_are_quoted() -> None:
    """ntfy splits actions on ';' and their parts on ',': such a URL is quoted."""
    assert quoted("https://wiki/x?a=1,2") == '"https://wiki/x?a=1,2"'
    assert quoted("https://wiki/x") == "https://wiki/x"
