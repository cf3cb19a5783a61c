"""The registry of notifiers agrees with the config's Channel union."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import TypeAdapter

from sentinel.config.models import Channel
from sentinel.notify import NOTIFIERS, build_notifier
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.render import Renderer

EXAMPLES: list[dict[str, object]] = [
    {"type": "slack", "token": "xoxb-1", "channel": "#ops"},
    {"type": "pagerduty", "routing_key": "k" * 32},
    {"type": "email", "api_key": "SG.x", "from": "s@example.com", "to": ["a@example.com"]},
    {"type": "sms", "account_sid": "AC1", "auth_token": "t", "from": "+15550001111"},
    {"type": "webhook", "url": "https://example.com/hook"},
    {"type": "console"},
    {"type": "teams", "webhook_url": "https://example.com/workflows/1?sig=s"},
    {"type": "discord", "webhook_url": "https://discord.com/api/webhooks/1/t"},
    {"type": "mattermost", "webhook_url": "https://chat.example.com/hooks/k"},
    {"type": "voice", "account_sid": "AC1", "auth_token": "t", "from": "+15550001111"},
]
# issue 18, part A
EXAMPLES += [
    {"type": "smtp", "host": "mail.example.com", "from": "s@example.com", "to": ["a@example.com"]},
    {"type": "ntfy", "url": "https://ntfy.sh/ops-alerts"},
    {"type": "telegram", "token": "123456:" + "A" * 35, "chat_id": -100123},
]


def channel_types() -> set[str]:
    union = typing.get_args(Channel)[0]
    return {typing.get_args(m.model_fields["type"].annotation)[0] for m in typing.get_args(union)}


def now() -> float:
    return 0.0


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def test_registry_matches_channel_union() -> None:
    """Every channel type has a notifier and every notifier a channel type."""
    assert set(NOTIFIERS) == channel_types()


def test_examples_cover_every_type() -> None:
    """The examples below exercise every registered type."""
    assert {e["type"] for e in EXAMPLES} == set(NOTIFIERS)


@pytest.mark.parametrize("data", EXAMPLES, ids=lambda d: str(d["type"]))
async def test_build_notifier(session: aiohttp.ClientSession, data: dict[str, object]) -> None:
    """build_notifier makes a notifier with a rate limit and a digest flag for each type."""
    channel = TypeAdapter(Channel).validate_python(data)
    notifier = build_notifier("main", channel, NotifierDeps(session, Renderer(), now))
    assert notifier.min_interval >= 0
    assert isinstance(notifier.digest, bool)
    await notifier.close()


async def test_wrong_channel_for_factory(session: aiohttp.ClientSession) -> None:
    """A factory handed another type's channel refuses it."""
    channel = TypeAdapter(Channel).validate_python({"type": "console"})
    with pytest.raises(TypeError):
        NOTIFIERS["slack"]("x", channel, NotifierDeps(session, Renderer(), now))
