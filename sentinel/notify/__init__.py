"""Notifiers: one module per provider, in a plain registry keyed by the channel ``type``.

Each notifier posts with aiohttp directly, because the providers' own clients
(slack_sdk, twilio, sendgrid) are synchronous or retry for ever, read
credentials and proxies from the environment, or rewrite the host we point
them at (see docs/providers.md).

Adding a provider touches three places: its module here, its config model in
:mod:`sentinel.config.models`, and its line in :data:`NOTIFIERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sentinel.config.models import (
    Channel,
    ConsoleChannel,
    DiscordChannel,
    EmailChannel,
    MattermostChannel,
    NtfyChannel,
    PagerDutyChannel,
    SlackChannel,
    SmsChannel,
    SmtpChannel,
    TeamsChannel,
    TelegramChannel,
    VoiceChannel,
    WebhookChannel,
)
from sentinel.notify.base import DeliveryError, Notice, Notifier, Sent
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
from sentinel.notify.smtp import SmtpNotifier
from sentinel.notify.teams import TeamsNotifier
from sentinel.notify.telegram import TelegramNotifier
from sentinel.notify.voice import VoiceNotifier
from sentinel.notify.webhook import WebhookNotifier

__all__ = [
    "NOTIFIERS",
    "DeliveryError",
    "Factory",
    "Notice",
    "Notifier",
    "NotifierDeps",
    "Renderer",
    "Sent",
    "build_notifier",
]

Factory = Callable[[str, Channel, NotifierDeps], Notifier]
_C = TypeVar("_C")


def _expect(channel: Channel, kind: type[_C]) -> _C:
    if not isinstance(channel, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(channel).__name__}")
    return channel


def _factory(model: type[_C], cls: Callable[[_C, NotifierDeps, str], Notifier]) -> Factory:
    """The factory of a provider notifier: its own config model, the shared parts."""

    def make(name: str, channel: Channel, deps: NotifierDeps) -> Notifier:
        return cls(_expect(channel, model), deps, name)

    return make


# channel type -> (its config model, its notifier)
PROVIDERS: dict[str, tuple[type[Any], type[Notifier]]] = {
    "slack": (SlackChannel, SlackNotifier),
    "pagerduty": (PagerDutyChannel, PagerDutyNotifier),
    "email": (EmailChannel, EmailNotifier),
    "sms": (SmsChannel, SmsNotifier),
    "webhook": (WebhookChannel, WebhookNotifier),
    "teams": (TeamsChannel, TeamsNotifier),
    "discord": (DiscordChannel, DiscordNotifier),
    "mattermost": (MattermostChannel, MattermostNotifier),
    "voice": (VoiceChannel, VoiceNotifier),
    "smtp": (SmtpChannel, SmtpNotifier),
    "ntfy": (NtfyChannel, NtfyNotifier),
    "telegram": (TelegramChannel, TelegramNotifier),
    "console": (ConsoleChannel, ConsoleNotifier),
}
NOTIFIERS: dict[str, Factory] = {
    kind: _factory(model, cls) for kind, (model, cls) in PROVIDERS.items()
}


def pace(kind: str) -> tuple[float, bool]:
    """A channel type's pacing as its notifier has it: seconds between sends, and whether
    a storm may fold its notices into a digest (``sentinel simulate`` paces the same)."""
    cls = PROVIDERS[kind][1]
    return cls.min_interval, cls.digest


def build_notifier(name: str, channel: Channel, deps: NotifierDeps) -> Notifier:
    """The notifier for one configured channel, built from the shared ``deps`` (the
    session in it is the caller's)."""
    return NOTIFIERS[channel.type](name, channel, deps)
