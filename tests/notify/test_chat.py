"""Teams, Discord and Mattermost against their strict fakes: what each sends, what
each does with a later notice of the same firing, and the limits each keeps.
The retry table, timeouts and secrets are in test_providers.py's shared suite."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sentinel.clock import FakeClock
from sentinel.config.models import DiscordChannel, MattermostChannel, TeamsChannel
from sentinel.notify.base import DeliveryError, Notifier, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.discord import DiscordNotifier
from sentinel.notify.mattermost import MattermostNotifier
from sentinel.notify.outbox import Delivery
from sentinel.notify.render import Renderer
from sentinel.notify.teams import TeamsNotifier
from sentinel.store.sqlite import SqliteStore
from tests.notify.fakes import (
    T0,
    DiscordWebhook,
    Fault,
    MattermostHook,
    TeamsWorkflow,
    alert,
    notice,
)
from tests.notify.test_dispatcher import make, put, run

TOKEN = "discord-token-SECRET-abcdef0123"
SIG = "teamsSIGsecret0123456789"
KEY = "mattermostkey0123456789abc"


def now() -> float:
    return T0 + 3900


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def discord(session: aiohttp.ClientSession, url: str, **extra: str) -> DiscordNotifier:
    channel = DiscordChannel(type="discord", webhook_url=url, **extra)
    return DiscordNotifier(channel, NotifierDeps(session, Renderer(), now))


def teams(session: aiohttp.ClientSession, url: str) -> TeamsNotifier:
    channel = TeamsChannel(type="teams", webhook_url=url)
    return TeamsNotifier(channel, NotifierDeps(session, Renderer(), now))


def mattermost(session: aiohttp.ClientSession, url: str, **extra: str) -> MattermostNotifier:
    channel = MattermostChannel(type="mattermost", webhook_url=url, **extra)
    return MattermostNotifier(channel, NotifierDeps(session, Renderer(), now))


async def refused(n: Notifier, kind: str = "firing") -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await n.send(notice(kind), None, None)
    return info.value


# -- Discord -------------------------------------------------------------------


async def test_discord_posts_an_embed_that_pings_nobody(session: aiohttp.ClientSession) -> None:
    """The first notice is one embed (title, colour by severity, facts, links), sent with
    wait=true and allowed_mentions parse [] ; the message id is the firing's ref."""
    async with DiscordWebhook(TOKEN) as fake:
        n = discord(session, fake.hook_url(), username="sentinel")
        sent = await n.send(notice(alert=alert(summary="@everyone the API is down")), None, None)
        body = fake.accepted[0].json
        assert body["allowed_mentions"] == {"parse": []}
        assert body["username"] == "sentinel"
        (embed,) = body["embeds"]
        assert embed["title"] == "[CRITICAL] FIRING: ServiceDown on production-api"
        assert embed["color"] == 0xD00000
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Reason"] == "connection refused"
        assert "[Acknowledge](https://sentinel.example.com/ack/a1b2c3?sig=x)" in fields["Links"]
        assert "[Status page](https://sentinel.example.com/)" in fields["Links"]
        assert sent == Sent(ref={"message_id": next(iter(fake.messages))})


async def test_discord_resolution_and_ack_edit_the_first_message(
    session: aiohttp.ClientSession,
) -> None:
    """Acknowledged and resolved edit the first message (PATCH), posting nothing new;
    an escalation edits it and posts a new message; a deleted message is posted afresh."""
    async with DiscordWebhook(TOKEN) as fake:
        n = discord(session, fake.hook_url())
        ref = (await n.send(notice(), None, None)).ref
        assert ref is not None
        mid = ref["message_id"]
        assert await n.send(notice("acknowledged"), None, ref) == Sent(ref=ref)
        assert await n.send(notice("resolved"), None, ref) == Sent(ref=ref)
        assert len(fake.messages) == 1
        titles = [e[1]["embeds"][0]["title"] for e in fake.edits]
        assert titles == [
            "ACKNOWLEDGED by bob: ServiceDown on production-api",
            "RESOLVED after 1h 5m: ServiceDown on production-api",
        ]
        resolved = fake.messages[mid]["embeds"][0]
        assert resolved["color"] == 0x2EB67D
        assert "Duration: 1h 5m" in resolved["description"]
        assert "Acknowledge" not in json.dumps(resolved["fields"])
        await n.send(notice("escalation", step=1), None, ref)
        assert len(fake.messages) == 2
        assert fake.edits[-1][1]["embeds"][0]["title"].startswith("[CRITICAL] ESCALATED (step 2)")
        del fake.messages[mid]
        sent = await n.send(notice("resolved"), None, ref)
        assert len(fake.messages) == 2  # the resolution, posted as a message of its own
        assert sent.ref is not None
        assert sent.ref["message_id"] != mid


async def test_discord_keeps_its_limits(session: aiohttp.ClientSession) -> None:
    """A 10,000-character summary and a 300-character rule name still fit Discord's
    limits (the fake refuses a title over 256, a description over 4096, 6000 in all)."""
    async with DiscordWebhook(TOKEN) as fake:
        n = discord(session, fake.hook_url())
        big = alert(summary="x" * 10_000, rule="R" * 300, reason="y" * 5000)
        await n.send(notice(alert=big), None, None)
        embed = fake.accepted[0].json["embeds"][0]
        assert len(embed["title"]) == 256
        assert len(embed["description"]) <= 4096
        with pytest.raises(DeliveryError):
            await n._call("POST", n._hook, {"embeds": [{"title": "t" * 257}]})


async def test_discord_refusals(session: aiohttp.ClientSession) -> None:
    """A wrong token is auth, an unknown webhook not_found (both permanent); a 429 waits
    for the body's retry_after; the token is never in an error."""
    async with DiscordWebhook(TOKEN) as fake:
        error = await refused(discord(session, fake.hook_url("wrong-token-0000")))
        assert (error.retry, error.reason, error.detail) == (False, "auth", "HTTP 401: code 50027")
        gone = fake.url + DiscordWebhook.PATH.format(id="1", token=TOKEN)
        error = await refused(discord(session, gone))
        assert (error.retry, error.reason) == (False, "not_found")
        assert TOKEN not in str(error)
        fake.inject(Fault(429, {"retry_after": 12.5, "global": False}, {"Retry-After": "13"}))
        error = await refused(discord(session, fake.hook_url()))
        assert (error.retry, error.retry_after) == (True, 12.5)


async def test_discord_thread_ref_survives_a_restart(
    session: aiohttp.ClientSession, store: SqliteStore
) -> None:
    """Through the dispatcher: the firing's message id is stored with the delivery, and
    after a restart (a new dispatcher on the same store) the resolution edits it."""
    async with DiscordWebhook(TOKEN) as fake:
        clock = FakeClock()
        n = discord(session, fake.hook_url())
        d, _ = await make(store, clock, {"discord": n})  # type: ignore[dict-item]

        def row(kind: str) -> Delivery:
            at = clock.now().timestamp()
            return Delivery(
                dedup=f"{kind}:discord",
                fingerprint="a1b2c3d4e5f60718",
                target="discord",
                channel="discord",
                address=None,
                notice=notice(kind),
                next_at=at,
                created_at=at,
            )

        await put(d, store, clock, [row("firing")])
        await run(d, clock, 0.5)
        await d.stop()
        d2, _ = await make(store, clock, {"discord": n})  # type: ignore[dict-item]
        await put(d2, store, clock, [row("resolved")])
        await run(d2, clock, 5.0)
        await d2.stop()
        assert len(fake.messages) == 1
        assert [e[1]["embeds"][0]["title"][:8] for e in fake.edits] == ["RESOLVED"]


# -- Teams ---------------------------------------------------------------------


async def test_teams_posts_an_adaptive_card(session: aiohttp.ClientSession) -> None:
    """A message with one Adaptive Card 1.4: header, summary, facts, and buttons to the
    ack link, the status page and the runbook; a resolution is a new card."""
    async with TeamsWorkflow(SIG) as fake:
        n = teams(session, fake.hook_url())
        assert await n.send(notice(), None, None) == Sent()
        message = fake.accepted[0].json
        assert message["type"] == "message"
        assert message["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = fake.cards[0]
        assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
        header = card["body"][0]
        assert header["style"] == "attention"
        assert header["items"][0]["text"] == "[CRITICAL] FIRING: ServiceDown on production-api"
        facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
        assert facts["Since"] == "2026-01-05T09:00Z"
        assert [(a["type"], a["title"], a["url"]) for a in card["actions"]] == [
            ("Action.OpenUrl", "Acknowledge", "https://sentinel.example.com/ack/a1b2c3?sig=x"),
            ("Action.OpenUrl", "Status page", "https://sentinel.example.com/"),
            ("Action.OpenUrl", "Runbook", "https://runbooks.example.com/service-down"),
        ]
        await n.send(notice("resolved"), None, {"message_id": "1"})
        assert len(fake.cards) == 2
        resolved = fake.cards[1]
        assert resolved["body"][0]["style"] == "good"
        assert "Acknowledge" not in [a["title"] for a in resolved["actions"]]


async def test_teams_card_stays_under_28_kb(session: aiohttp.ClientSession) -> None:
    """A 100,000-character description is cut so the whole body stays under 28 KB
    (the fake refuses more with 413)."""
    async with TeamsWorkflow(SIG) as fake:
        n = teams(session, fake.hook_url())
        long = notice("escalation", alert=alert(description="z" * 100_000))
        await n.send(long, None, None)
        assert len(fake.accepted[0].body) <= 28_000
        oversized = b'{"type":"message","attachments":[]}' + b" " * 30_000
        async with session.post(fake.hook_url(), data=oversized) as resp:
            assert resp.status == 413


async def test_teams_wrong_signature_is_permanent_and_secret_free(
    session: aiohttp.ClientSession,
) -> None:
    """A wrong sig is 401 auth; Logic Apps echo the URL in their message, which is not kept."""
    async with TeamsWorkflow(SIG) as fake:
        error = await refused(teams(session, fake.hook_url("otherSIG0123456789")))
        assert (error.retry, error.reason) == (False, "auth")
        assert error.detail == "HTTP 401: DirectApiInvalidAuthorizationSignature"
        assert "otherSIG" not in str(error)


# -- Mattermost ----------------------------------------------------------------


async def test_mattermost_posts_attachments_that_mention_nobody(
    session: aiohttp.ClientSession,
) -> None:
    """Slack-compatible attachment (colour, title, fields); @channel and <!here> in an
    alert's text do not notify; the target's address becomes the channel."""
    async with MattermostHook(KEY) as fake:
        n = mattermost(session, fake.hook_url(), username="sentinel")
        text = "@channel wake up <!here> ping @alice"
        await n.send(notice(alert=alert(summary=text, reason="@all down")), "@bob", None)
        body = fake.accepted[0].json
        assert (body["channel"], body["username"]) == ("@bob", "sentinel")
        (att,) = body["attachments"]
        assert att["color"] == "#d00000"
        assert att["title"] == "[CRITICAL] FIRING: ServiceDown on production-api"
        assert att["title_link"] == "https://sentinel.example.com/ack/a1b2c3?sig=x"
        dump = json.dumps(body, ensure_ascii=False)
        for mention in ("@channel", "@here", "@all", "@alice", "<!here>"):
            assert mention not in dump
        fields = {f["title"]: f for f in att["fields"]}
        assert fields["Severity"]["short"] is True
        assert fields["Reason"]["value"] == "@\u200ball down"


async def test_mattermost_follow_ups_are_new_posts(session: aiohttp.ClientSession) -> None:
    """No edits through an incoming webhook: acknowledged and resolved are posts of their
    own, green for resolved, with the template's text."""
    async with MattermostHook(KEY) as fake:
        n = mattermost(session, fake.hook_url(), channel="alerts")
        for kind in ("firing", "acknowledged", "resolved"):
            assert await n.send(notice(kind), None, {"x": "y"}) == Sent()
        assert len(fake.accepted) == 3
        resolved = fake.accepted[2].json["attachments"][0]
        assert resolved["color"] == "#2eb67d"
        assert "Duration: 1h 5m" in resolved["text"]
        assert fake.accepted[2].json["channel"] == "alerts"


async def test_mattermost_limits_and_refusals(session: aiohttp.ClientSession) -> None:
    """text stays within 16383 characters; an unknown channel, a deleted webhook and
    webhooks turned off are permanent; a 200 that is not ``ok`` is not a delivery."""
    async with MattermostHook(KEY) as fake:
        n = mattermost(session, fake.hook_url())
        await n.send(notice(alert=alert(rule="R" * 20_000)), None, None)
        assert len(fake.accepted[0].json["text"]) == 16383
        error = await refused(mattermost(session, fake.hook_url(), channel="nowhere"))
        assert (error.retry, error.detail) == (
            False,
            "HTTP 400: web.incoming_webhook.channel.app_error",
        )
        error = await refused(mattermost(session, fake.hook_url("deletedkey0123456789abcdef")))
        assert (error.retry, error.reason) == (False, "payload")
        assert "invalid.app_error" in error.detail
        fake.inject(Fault(501, {"id": "web.incoming_webhook.disabled.app_error"}))
        error = await refused(n)
        assert (error.retry, error.reason) == (False, "disabled")
        fake.inject(Fault(200, "<html>login</html>"))
        error = await refused(n)
        assert (error.retry, error.reason) == (False, "unexpected_response")


async def test_permanent_refusal_marks_the_channel_broken_and_falls_through(
    session: aiohttp.ClientSession, store: SqliteStore
) -> None:
    """Through the dispatcher: Discord refusing the token marks the channel broken
    (reason auth) and the notice goes on to the next route, here Mattermost."""
    async with DiscordWebhook(TOKEN) as dc, MattermostHook(KEY) as mm:
        clock = FakeClock()
        lanes = {
            "discord": discord(session, dc.hook_url("revoked-token-000000")),
            "mattermost": mattermost(session, mm.hook_url()),
        }
        d, _ = await make(store, clock, lanes)  # type: ignore[arg-type]
        at = clock.now().timestamp()
        row = Delivery(
            dedup="firing:discord",
            fingerprint="a1b2c3d4e5f60718",
            target="alice",
            channel="discord",
            address=None,
            notice=notice(),
            next_at=at,
            created_at=at,
            fallback=(("mattermost", "@alice"),),
        )
        await put(d, store, clock, [row])
        await run(d, clock, 1.0)
        await d.stop()
        assert d.broken == {"discord": "auth"}
        assert dc.accepted == []
        assert [r.json["channel"] for r in mm.accepted] == ["@alice"]


def test_discord_username_discord_refuses_is_refused_when_the_config_loads() -> None:
    """Discord refuses every message from a webhook named with "discord" or "clyde": the
    config says so at load time instead of the channel breaking at the first page."""
    url = "https://discord.com/api/webhooks/1/t"
    with pytest.raises(ValueError, match="containing discord or clyde"):
        DiscordChannel(type="discord", webhook_url=url, username="Discord alerts")
    assert DiscordChannel(type="discord", webhook_url=url, username="sentinel").username
