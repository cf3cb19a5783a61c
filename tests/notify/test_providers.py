"""The suite every HTTP notifier passes, against its strict local fake.

Rows follow the retry table of docs/providers.md status by status;
a provider added later joins by adding one :class:`Case` builder.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from sentinel.config.models import (
    ConsoleChannel,
    DiscordChannel,
    EmailChannel,
    MattermostChannel,
    NtfyChannel,
    PagerDutyChannel,
    SlackChannel,
    SmsChannel,
    TeamsChannel,
    TelegramChannel,
    VoiceChannel,
    WebhookChannel,
)
from sentinel.notify import PROVIDERS, build_notifier
from sentinel.notify.base import DeliveryError, Notifier, Sent
from sentinel.notify.console import ConsoleNotifier
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.discord import DiscordNotifier
from sentinel.notify.email import EmailNotifier
from sentinel.notify.mattermost import MattermostNotifier
from sentinel.notify.ntfy import NtfyNotifier
from sentinel.notify.pagerduty import PagerDutyNotifier
from sentinel.notify.render import Renderer
from sentinel.notify.slack import SlackNotifier
from sentinel.notify.sms import SmsNotifier
from sentinel.notify.teams import TeamsNotifier
from sentinel.notify.telegram import TelegramNotifier
from sentinel.notify.voice import VoiceNotifier
from sentinel.notify.webhook import WebhookNotifier
from tests.conftest import free_port
from tests.notify.fakes import (
    T0,
    DiscordWebhook,
    Fake,
    Fault,
    MattermostHook,
    Ntfy,
    PagerDuty,
    Receiver,
    SendGrid,
    SlackApi,
    SlackWebhook,
    TeamsWorkflow,
    TelegramBot,
    Twilio,
    TwilioCalls,
    alert,
    notice,
)

NOW = T0 + 3900
SLACK_TOKEN = "xoxb-1111-2222-SECRETslacktoken"
HOOK_PATH = "XXsecretWebhookPathXX"
PD_KEY = "R0UT1NGKEYsecret0123456789abcdef"
SG_KEY = "SG.secret-sendgrid-key.abcdef"
TW_SID = "AC0123456789abcdef0123456789abcd"
TW_TOKEN = "twilio-secret-auth-token"
HOOK_TOKEN = "hooksecretpath123"
HMAC_SECRET = "hmac-secret-xyz"
HEADER_SECRET = "Bearer hdrsecret-abc"
SECRETS = [SLACK_TOKEN, HOOK_PATH, PD_KEY, SG_KEY, TW_SID, TW_TOKEN, HOOK_TOKEN, HMAC_SECRET]
SECRETS += [HEADER_SECRET]
TEAMS_SIG = "TeamsSig0secretXYZabc123"
DISCORD_TOKEN = "discord-webhook-token-SECRET-0123456789"
MM_KEY = "mmsecrethookkey0123456789a"
SECRETS += [TEAMS_SIG, DISCORD_TOKEN, MM_KEY]


def now() -> float:
    return NOW


@dataclass
class Case:
    """One provider: its fake, and a notifier for a base URL and a timeout."""

    name: str
    fake: Fake
    make: Callable[[str, float], Notifier]
    bodies: Callable[[int], Any]  # the provider's error body for a status
    secrets: list[str]  # what the notifier is given, so what the provider could echo

    def notifier(self, timeout: float = 5.0) -> Notifier:
        return self.make(self.fake.url, timeout)

    def fault(self, status: int, headers: dict[str, str] | None = None) -> Fault:
        return Fault(status, self.bodies(status), headers or {})


def _slack(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = SlackChannel(
            type="slack", token=SLACK_TOKEN, channel="#ops", api_url=url + "/api/"
        )
        return SlackNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        return {"ok": False, "error": "ratelimited"} if status == 429 else "<html>oops</html>"

    return Case("slack", SlackApi(SLACK_TOKEN), make, bodies, [SLACK_TOKEN])


def _slack_webhook(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        hook = url + SlackWebhook.PATH + HOOK_PATH
        channel = SlackChannel(type="slack", webhook_url=hook)
        return SlackNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    codes = {400: "invalid_payload", 403: "action_prohibited", 404: "channel_not_found"}
    codes |= {410: "channel_is_archived", 429: "rate_limited"}
    return Case(
        "slack_webhook", SlackWebhook(HOOK_PATH), make, lambda s: codes.get(s, "error"), [HOOK_PATH]
    )


def _pagerduty(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = PagerDutyChannel(type="pagerduty", routing_key=PD_KEY, api_url=url)
        return PagerDutyNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        if status == 400:
            return {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["x"],
            }
        if status == 429:
            return {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly.",
            }
        return "Internal Server Error"

    return Case("pagerduty", PagerDuty(), make, bodies, [PD_KEY])


def _email(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = EmailChannel.model_validate(
            {
                "type": "email",
                "api_key": SG_KEY,
                "from": "sentinel@example.com",
                "to": ["ops@example.com"],
                "api_url": url,
            }
        )
        return EmailNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        return {"errors": [{"message": f"error {status}", "field": None, "help": None}]}

    return Case("email", SendGrid(SG_KEY), make, bodies, [SG_KEY])


def _sms(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = SmsChannel.model_validate(
            {
                "type": "sms",
                "account_sid": TW_SID,
                "auth_token": TW_TOKEN,
                "from": "+15550001111",
                "to": ["+15550002222"],
                "api_url": url,
            }
        )
        return SmsNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        code = {400: 21211, 401: 20003, 429: 20429}.get(status, 20500)
        return {"code": code, "message": "error", "more_info": "", "status": status}

    return Case("sms", Twilio(TW_SID, TW_TOKEN), make, bodies, [TW_SID, TW_TOKEN])


def _webhook(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = WebhookChannel(
            type="webhook",
            url=f"{url}/hooks/{HOOK_TOKEN}",
            secret=HMAC_SECRET,
            headers={"Authorization": HEADER_SECRET},
        )
        return WebhookNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    secrets = [HOOK_TOKEN, HMAC_SECRET, HEADER_SECRET]
    return Case("webhook", Receiver(HMAC_SECRET), make, lambda s: f"error {s}", secrets)


# -- chat webhooks: Teams, Discord, Mattermost --------------------------------


def _teams(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = TeamsChannel(type="teams", webhook_url=TeamsWorkflow.at(url, TEAMS_SIG))
        return TeamsNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        return {"error": {"code": "TooManyRequests" if status == 429 else "Failed", "message": "x"}}

    return Case("teams", TeamsWorkflow(TEAMS_SIG), make, bodies, [TEAMS_SIG])


def _discord(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        hook = url + DiscordWebhook.PATH.format(id=DiscordWebhook.ID, token=DISCORD_TOKEN)
        channel = DiscordChannel(type="discord", webhook_url=hook)
        return DiscordNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        if status == 429:
            return {"message": "You are being rate limited.", "retry_after": 0.75, "global": False}
        return {"message": "error", "code": {400: 50035, 401: 50027, 404: 10015}.get(status, 0)}

    return Case("discord", DiscordWebhook(DISCORD_TOKEN), make, bodies, [DISCORD_TOKEN])


def _mattermost(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = MattermostChannel(type="mattermost", webhook_url=f"{url}/hooks/{MM_KEY}")
        return MattermostNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        return {
            "id": "web.incoming_webhook.invalid.app_error",
            "message": "x",
            "status_code": status,
        }

    return Case("mattermost", MattermostHook(MM_KEY), make, bodies, [MM_KEY])


def _voice(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = VoiceChannel.model_validate(
            {
                "type": "voice",
                "account_sid": TW_SID,
                "auth_token": TW_TOKEN,
                "from": "+15550001111",
                "to": ["+15550002222"],
                "api_url": url,
            }
        )
        return VoiceNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        code = {400: 21211, 401: 20003, 429: 20429}.get(status, 20500)
        return {"code": code, "message": "error", "more_info": "", "status": status}

    return Case("voice", TwilioCalls(TW_SID, TW_TOKEN), make, bodies, [TW_SID, TW_TOKEN])


BUILDERS = {
    "slack": _slack,
    "slack_webhook": _slack_webhook,
    "pagerduty": _pagerduty,
    "email": _email,
    "sms": _sms,
    "webhook": _webhook,
    "teams": _teams,
    "discord": _discord,
    "mattermost": _mattermost,
    "voice": _voice,
}


# -- issue 18, part A: ntfy and Telegram join the suite ------------------------------
TOPIC = "ops-secret-topic-7f3a"
NTFY_TOKEN = "tk_ntfysecrettoken0123456789abc"
TG_TOKEN = "123456789:AAEsecretTelegramBotToken_0123456789"
SECRETS += [TOPIC, NTFY_TOKEN, TG_TOKEN, TG_TOKEN.split(":")[1]]


def _ntfy(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = NtfyChannel(type="ntfy", url=f"{url}/{TOPIC}", token=NTFY_TOKEN)
        return NtfyNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        return {"code": status * 100 + 1, "http": status, "error": f"error {status}"}

    return Case("ntfy", Ntfy(TOPIC, token=NTFY_TOKEN), make, bodies, [TOPIC, NTFY_TOKEN])


def _telegram(session: aiohttp.ClientSession, renderer: Renderer) -> Case:
    def make(url: str, timeout: float) -> Notifier:
        channel = TelegramChannel(type="telegram", token=TG_TOKEN, chat_id=-100123, api_url=url)
        return TelegramNotifier(channel, NotifierDeps(session, renderer, now, timeout))

    def bodies(status: int) -> Any:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": f"E{status}"}
        if status == 429:
            body["parameters"] = {"retry_after": 11}
        return body

    secrets = [TG_TOKEN, TG_TOKEN.split(":")[1]]
    return Case("telegram", TelegramBot(TG_TOKEN), make, bodies, secrets)


BUILDERS |= {"ntfy": _ntfy, "telegram": _telegram}  # issue 18, part A

# docs/providers.md's retry table, status by status: True = retry, False = permanent.
RETRY_TABLE: dict[str, dict[int, bool]] = {
    "slack": {429: True, 500: True, 502: True, 503: True, 404: False},
    "slack_webhook": {
        400: False,
        403: False,
        404: False,
        410: False,
        429: True,
        500: True,
        503: True,
    },
    "pagerduty": {400: False, 429: True, 500: True, 502: True, 503: True},
    "email": {400: False, 401: False, 403: False, 413: False, 429: True, 500: True, 503: True},
    "sms": {400: False, 401: False, 429: True, 500: True, 503: True},
    "voice": {400: False, 401: False, 404: False, 429: True, 500: True, 503: True},
    "webhook": {400: False, 401: False, 404: False, 410: False, 429: True, 500: True, 503: True},
    "teams": {400: False, 401: False, 403: False, 404: False, 413: False, 429: True, 502: True},
    "discord": {400: False, 401: False, 403: False, 404: False, 429: True, 500: True, 503: True},
    "mattermost": {400: False, 403: False, 404: False, 501: False, 429: True, 500: True},
}
# Providers for which any 200 is an acceptance; the others expect their own success
# answer (Slack's "ok", 202 from PagerDuty and SendGrid, 201 from Twilio).
# 2xx is acceptance whatever the body says: a webhook receiver, Teams (202 before the flow
# runs), Discord (the message object; without an id the notice is sent, with no thread)
ACCEPTED_WITH_200 = {"webhook", "teams", "discord", "ntfy"}  # ntfy: 200 is a published message
RETRY_TABLE |= {  # issue 18, part A
    "ntfy": {400: False, 401: False, 403: False, 404: False, 413: False, 429: True, 500: True}
    | {502: True, 507: True},
    "telegram": {400: False, 401: False, 403: False, 404: False, 429: True, 500: True}
    | {502: True},
}
ROWS = [(p, s, r) for p, table in RETRY_TABLE.items() for s, r in table.items()]

# (fault headers for a 429, the wait the notifier must report)
RATE_LIMITS: dict[str, tuple[dict[str, str], float | None]] = {
    "slack": ({"Retry-After": "1.5"}, 1.5),
    "slack_webhook": ({"Retry-After": "2"}, 2.0),
    "pagerduty": ({}, None),
    "email": ({"X-RateLimit-Reset": str(int(NOW) + 7)}, 7.0),
    "sms": ({}, None),
    "voice": ({}, None),
    "webhook": (
        {"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)},
        30.0,
    ),
    "teams": ({"Retry-After": "3"}, 3.0),
    "discord": ({"Retry-After": "1"}, 0.75),  # the body's retry_after is the precise one
    "mattermost": ({"Retry-After": "4"}, 4.0),
}

RATE_LIMITS |= {  # issue 18, part A
    "ntfy": ({"Retry-After": "4"}, 4.0),
    "telegram": ({}, 11.0),  # parameters.retry_after in the body
}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture(params=list(BUILDERS))
async def case(
    request: pytest.FixtureRequest, session: aiohttp.ClientSession
) -> AsyncIterator[Case]:
    built = BUILDERS[request.param](session, Renderer())
    async with built.fake:
        yield built


async def _failure(notifier: Notifier, kind: str = "firing") -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await notifier.send(notice(kind), None, None)
    return info.value


def assert_no_secret(error: DeliveryError) -> None:
    for text in (str(error), error.detail, repr(error), error.reason):
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text!r}"


async def test_success_returns_sent(case: Case) -> None:
    """A send the fake accepts returns Sent, and the fake recorded exactly one request."""
    sent = await case.notifier().send(notice(), None, None)
    assert isinstance(sent, Sent)
    assert len(case.fake.accepted) == 1


@pytest.mark.parametrize(
    "kind",
    ["firing", "escalation", "repeat", "acknowledged", "resolved", "flapping", "digest", "test"],
)
async def test_every_kind_is_accepted(case: Case, kind: str) -> None:
    """Every kind of notice passes the strict fake's validation."""
    await case.notifier().send(notice(kind), None, None)
    assert case.fake.accepted


@pytest.mark.parametrize(("provider", "status", "retry"), ROWS)
async def test_retry_table(
    provider: str, status: int, retry: bool, session: aiohttp.ClientSession
) -> None:
    """Each status of the retry table is retried or not, as docs/providers.md says."""
    built = BUILDERS[provider](session, Renderer())
    async with built.fake:
        built.fake.inject(built.fault(status))
        error = await _failure(built.notifier())
        assert error.retry is retry
        assert error.reason
        assert_no_secret(error)
        # The same request goes through once the fault is gone.
        assert isinstance(await built.notifier().send(notice(), None, None), Sent)


async def test_rate_limit_wait(case: Case) -> None:
    """A 429 is retried after Retry-After / X-RateLimit-Reset, or our backoff (None)."""
    headers, wait = RATE_LIMITS[case.name]
    case.fake.inject(case.fault(429, headers))
    error = await _failure(case.notifier())
    assert (error.retry, error.reason, error.retry_after) == (True, "rate_limited", wait)


async def test_timeout_is_retried(case: Case) -> None:
    """No answer within the client's total timeout is a retryable "timeout"."""
    case.fake.inject(Fault(200, "late", delay=2.0))
    error = await _failure(case.notifier(timeout=0.2))
    assert (error.retry, error.reason) == (True, "timeout")


async def test_network_error_is_retried(case: Case) -> None:
    """A refused connection is a retryable "network" error that names no URL."""
    error = await _failure(case.make(f"http://127.0.0.1:{free_port()}", 5.0))
    assert (error.retry, error.reason) == (True, "network")
    assert_no_secret(error)
    assert "127.0.0.1" not in str(error)


async def test_invalid_url_is_refused_when_the_config_loads(case: Case) -> None:
    """A URL that cannot be requested never reaches a notifier: the config refuses it."""
    with pytest.raises(ValidationError, match="expected an http:// or https:// URL"):
        case.make("ftp://127.0.0.1:1", 5.0)


async def test_no_secret_in_errors(case: Case) -> None:
    """Error bodies that echo the channel's credentials still give secret-free errors."""
    echo = " ".join(case.secrets)
    for status in (400, 401, 403, 404, 429, 500):
        case.fake.inject(Fault(status, echo))
        assert_no_secret(await _failure(case.notifier()))
        case.fake.inject(
            Fault(status, {"errors": [echo], "message": echo, "error": echo, "code": 21211})
        )
        assert_no_secret(await _failure(case.notifier()))
    case.fake.inject(Fault(200, {"ok": False, "error": echo}))
    if case.name in ACCEPTED_WITH_200:
        assert isinstance(await case.notifier().send(notice(), None, None), Sent)
    else:
        assert_no_secret(await _failure(case.notifier()))


async def test_wrong_credentials_are_permanent(session: aiohttp.ClientSession) -> None:
    """A credential the provider rejects is permanent, so the channel is marked broken."""
    r = Renderer()
    async with SlackApi("xoxb-other") as slack:
        c = SlackChannel(
            type="slack", token=SLACK_TOKEN, channel="#ops", api_url=slack.url + "/api/"
        )
        error = await _failure(SlackNotifier(c, NotifierDeps(session, r, now)))
        assert (error.retry, error.reason) == (False, "auth")
        assert_no_secret(error)
    async with SlackWebhook("other-path") as hook:
        c = SlackChannel(type="slack", webhook_url=hook.url + SlackWebhook.PATH + HOOK_PATH)
        error = await _failure(SlackNotifier(c, NotifierDeps(session, r, now)))
        assert (error.retry, error.reason) == (False, "not_found")
    async with PagerDuty() as pd:
        p = PagerDutyChannel(type="pagerduty", routing_key="too-short", api_url=pd.url)
        error = await _failure(PagerDutyNotifier(p, NotifierDeps(session, r, now)))
        assert (error.retry, error.reason) == (False, "bad_request")
        assert "routing_key" in error.detail
    async with SendGrid("SG.other") as sg:
        e = EmailChannel.model_validate(
            {
                "type": "email",
                "api_key": SG_KEY,
                "from": "s@example.com",
                "to": ["a@example.com"],
                "api_url": sg.url,
            }
        )
        error = await _failure(EmailNotifier(e, NotifierDeps(session, r, now)))
        assert (error.retry, error.reason) == (False, "auth")
    async with Twilio(TW_SID, "other-token") as tw:
        s = SmsChannel.model_validate(
            {
                "type": "sms",
                "account_sid": TW_SID,
                "auth_token": TW_TOKEN,
                "from": "+15550001111",
                "to": ["+15550002222"],
                "api_url": tw.url,
            }
        )
        error = await _failure(SmsNotifier(s, NotifierDeps(session, r, now)))
        assert (error.retry, error.reason) == (False, "auth")
        assert_no_secret(error)
    async with Receiver("other-secret") as rcv:
        w = WebhookChannel(type="webhook", url=f"{rcv.url}/hooks/{HOOK_TOKEN}", secret=HMAC_SECRET)
        error = await _failure(WebhookNotifier(w, NotifierDeps(session, r, now)))
        assert (error.retry, error.reason) == (False, "auth")
        assert_no_secret(error)


async def test_pagerduty_events(session: aiohttp.ClientSession) -> None:
    """Trigger, acknowledge and resolve share the fingerprint as dedup_key; severity is mapped."""
    async with PagerDuty() as pd:
        n = PagerDutyNotifier(
            PagerDutyChannel(type="pagerduty", routing_key=PD_KEY, api_url=pd.url),
            NotifierDeps(session, Renderer(), now),
        )
        for kind in ("firing", "acknowledged", "resolved"):
            assert await n.send(notice(kind), None, None) == Sent(
                ref={"dedup_key": "a1b2c3d4e5f60718"}
            )
        assert pd.incidents == {"a1b2c3d4e5f60718": "resolved"}
        trigger = pd.accepted[0].json
        assert [r.json["event_action"] for r in pd.accepted] == [
            "trigger",
            "acknowledge",
            "resolve",
        ]
        assert trigger["payload"]["severity"] == "critical"
        assert trigger["payload"]["source"] == "production-api"
        assert trigger["payload"]["custom_details"]["reason"] == "connection refused"
        assert {link["text"] for link in trigger["links"]} == {"Runbook", "Acknowledge in sentinel"}
        await n.send(notice(alert=alert(severity="high", summary="x" * 5000)), None, None)
        assert pd.accepted[-1].json["payload"]["severity"] == "error"
        assert len(pd.accepted[-1].json["payload"]["summary"]) == 1024
        assert (await n.send(notice("test"), None, None)).ref == {
            "dedup_key": f"sentinel-test-{int(NOW)}"
        }


async def test_email_mail(session: aiohttp.ClientSession) -> None:
    """Recipients are deduplicated, text/plain comes first, and X-Message-Id is the ref."""
    async with SendGrid(SG_KEY) as sg:
        channel = EmailChannel.model_validate(
            {
                "type": "email",
                "api_key": SG_KEY,
                "from": "s@example.com",
                "to": ["a@example.com", "A@example.com", "b@example.com"],
                "api_url": sg.url,
            }
        )
        n = EmailNotifier(channel, NotifierDeps(session, Renderer(), now))
        sent = await n.send(notice(), None, None)
        assert sent.ref is not None
        assert sent.ref["message_id"]
        mail = sg.accepted[0].json
        assert mail["personalizations"][0]["to"] == [
            {"email": "a@example.com"},
            {"email": "b@example.com"},
        ]
        assert [c["type"] for c in mail["content"]] == ["text/plain", "text/html"]
        assert mail["subject"] == "[CRITICAL] ServiceDown production-api"
        await n.send(notice(), "lead@example.com", None)
        assert sg.accepted[1].json["personalizations"][0]["to"] == [{"email": "lead@example.com"}]
        empty = EmailChannel.model_validate(
            {"type": "email", "api_key": SG_KEY, "from": "s@example.com", "api_url": sg.url}
        )
        error = await _failure(EmailNotifier(empty, NotifierDeps(session, Renderer(), now)))
        assert (error.retry, error.reason) == (False, "no_recipient")


async def test_sms_message(session: aiohttp.ClientSession) -> None:
    """The page goes to the address as one GSM-7 segment with the ack reference; sid is the ref."""
    async with Twilio(TW_SID, TW_TOKEN) as tw:
        channel = SmsChannel.model_validate(
            {
                "type": "sms",
                "account_sid": TW_SID,
                "auth_token": TW_TOKEN,
                "from": "+15550001111",
                "api_url": tw.url,
            }
        )
        n = SmsNotifier(channel, NotifierDeps(session, Renderer(), now))
        sent = await n.send(notice(), "+447700900123", None)
        assert sent.ref is not None
        assert sent.ref["sid"].startswith("SM")
        form = tw.accepted[0].form
        assert form["To"] == "+447700900123"
        assert len(form["Body"]) <= 160
        assert "ACK a1b2c3" in form["Body"]
        error = await _failure(n)  # no address and no `to`
        assert error.reason == "no_recipient"
        with pytest.raises(DeliveryError) as info:
            await n.send(notice(), "07700 900123", None)
        assert (info.value.retry, info.value.reason) == (False, "invalid_number")


async def test_webhook_payload(session: aiohttp.ClientSession) -> None:
    """The notice is posted as versioned JSON, signed, with the configured extra headers."""
    async with Receiver(HMAC_SECRET) as rcv:
        channel = WebhookChannel(
            type="webhook",
            url=f"{rcv.url}/hooks/{HOOK_TOKEN}",
            secret=HMAC_SECRET,
            headers={"X-Team": "ops"},
        )
        await WebhookNotifier(channel, NotifierDeps(session, Renderer(), now)).send(
            notice(), None, None
        )
        rec = rcv.accepted[0]
        assert rec.json["version"] == "1"
        assert rec.json["kind"] == "firing"
        assert rec.json["alert"]["fingerprint"] == "a1b2c3d4e5f60718"
        assert rec.headers["X-Sentinel-Timestamp"] == str(int(NOW))
        assert rec.headers["X-Team"] == "ops"


async def test_console_writes_and_never_fails() -> None:
    """The console writes one block per notice and returns Sent even on a closed stream."""
    stream = io.StringIO()
    console = ConsoleNotifier(
        ConsoleChannel(type="console"), NotifierDeps(None, Renderer(), lambda: 0.0), stream=stream
    )
    await console.send(notice(), None, None)
    await console.send(notice("resolved"), "#ops", None)
    assert stream.getvalue().count("--- sentinel") == 2
    assert "[RESOLVED] ServiceDown on production-api" in stream.getvalue()
    stream.close()
    assert await console.send(notice(), None, None) == Sent()


async def test_build_notifier_sets_limits(session: aiohttp.ClientSession) -> None:
    """build_notifier gives each provider its rate limit and digest ability."""
    pd = build_notifier(
        "pd",
        PagerDutyChannel(type="pagerduty", routing_key=PD_KEY),
        NotifierDeps(session, Renderer(), now),
    )
    assert (pd.min_interval, pd.digest) == (0.5, False)
    console = build_notifier(
        "c", ConsoleChannel(type="console"), NotifierDeps(session, Renderer(), now)
    )
    assert (console.min_interval, console.digest) == (0.0, True)


# Channel types that are not a case above, and where their own suite is.
OWN_SUITE = {
    "smtp": "not HTTP: tests/notify/test_smtp.py runs the same rows against a local SMTP server",
    "console": "no provider: it writes to a stream and never fails",
}


def test_every_provider_is_a_case() -> None:
    """Every registered channel type runs this suite (Slack twice: bot token and webhook)
    or names its own suite, and every case has its retry table and its 429 row."""
    cases = {name.removesuffix("_webhook") for name in BUILDERS}
    assert cases | set(OWN_SUITE) == set(PROVIDERS)
    assert not cases & set(OWN_SUITE)
    assert set(RETRY_TABLE) == set(BUILDERS) == set(RATE_LIMITS)
