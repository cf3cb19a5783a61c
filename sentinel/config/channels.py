"""Where notices go: one model per provider (the ``channels:`` section), and how
they are delivered (``notifications:``: timeouts, retries, storm digests)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from sentinel.config.addresses import check_url, host_name, is_placeholder
from sentinel.config.checks import Strict
from sentinel.config.units import Duration


class SlackChannel(Strict):
    type: Literal["slack"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    token: SecretStr | None = None
    """A bot token (xoxb-...); needs channel."""
    webhook_url: SecretStr | None = None
    """An incoming webhook URL, instead of a token."""
    channel: str | None = None
    """The channel a bot token posts to, e.g. #alerts."""
    api_url: str | None = None
    """Another address for the provider's API: a proxy, a regional endpoint, a test server."""
    signing_secret: SecretStr | None = None
    """The Slack app's signing secret (Basic Information > App Credentials): verifies the
    button clicks Slack posts to /slack/interactions. Set: alert messages carry Acknowledge
    and Silence 1h buttons."""

    _urls = field_validator("webhook_url", "api_url")(check_url)

    @model_validator(mode="after")
    def _one_way(self) -> SlackChannel:
        if (self.token is None) == (self.webhook_url is None):
            raise ValueError("slack takes exactly one of token (with channel) or webhook_url")
        if self.token is not None and not self.channel:
            raise ValueError("slack with a bot token needs channel")
        if self.signing_secret is not None and self.token is None:
            # The buttons' answer edits the message with chat.update, which needs the token.
            raise ValueError("slack signing_secret (buttons) needs a bot token")
        return self


class PagerDutyChannel(Strict):
    type: Literal["pagerduty"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    routing_key: SecretStr
    """Events API v2 routing key."""
    api_url: str | None = None
    """Another address for the provider's API: a proxy, a regional endpoint, a test server."""

    _urls = field_validator("api_url")(check_url)


class EmailChannel(Strict):
    type: Literal["email"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    api_key: SecretStr
    """The email provider's API key."""
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    """Sender address."""
    to: list[str] = []
    """Recipients when the target names none."""
    api_url: str | None = None
    """Another address for the provider's API: a proxy, a regional endpoint, a test server."""

    _urls = field_validator("api_url")(check_url)


class SmsChannel(Strict):
    type: Literal["sms"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    account_sid: SecretStr
    """The SMS provider's account SID."""
    auth_token: SecretStr
    """The SMS provider's auth token."""
    from_: str = Field(alias="from")
    """Sending number."""
    to: list[str] = []
    """Recipients when the target names none."""
    api_url: str | None = None
    """Another address for the provider's API: a proxy, a regional endpoint, a test server."""
    secondary_auth_token: SecretStr | None = None
    """A second auth token whose webhook signatures (SMS replies) are accepted (rotation)."""

    _urls = field_validator("api_url")(check_url)


class VoiceChannel(Strict):
    """Phone calls through Twilio that read the alert and take a keypress (needs
    ``server.external_url``, where Twilio posts the keypress: docs/notifications.md)."""

    type: Literal["voice"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    account_sid: SecretStr
    """Twilio account SID (AC...)."""
    auth_token: SecretStr
    """Twilio auth token: places calls and signs the keypress webhooks."""
    # A second auth token whose signatures are accepted too, while Twilio's is rotated.
    secondary_auth_token: SecretStr | None = None
    """A second auth token whose webhook signatures are accepted (rotation)."""
    from_: str = Field(alias="from", pattern=r"^\+[1-9]\d{6,14}$")
    """A voice-capable Twilio number, E.164."""
    to: list[Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$")]] = []
    """Numbers called when the target names none."""
    ring: Duration = Field(default=30.0, ge=5.0, le=600.0)  # seconds a call rings (Timeout)
    """How long a call rings before it counts as not answered (Twilio's Timeout)."""
    per_number: Duration = Field(default=60.0, ge=0)  # at most one call a number this often
    """At most one call to a number this often; a later one waits."""
    api_url: str | None = None
    """Twilio's API base URL (tests point it at a local fake)."""

    _urls = field_validator("api_url")(check_url)


class WebhookChannel(Strict):
    type: Literal["webhook"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    url: SecretStr
    """Where notices are POSTed as JSON."""
    secret: SecretStr | None = None
    """Signs each request body (HMAC)."""
    headers: dict[str, str] = {}
    """Extra request headers."""

    _urls = field_validator("url")(check_url)


class ConsoleChannel(Strict):
    type: Literal["console"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""


# -- chat webhooks: Teams, Discord, Mattermost (docs/notifications.md) --------
# The webhook URL is the credential (whoever has it can post): a secret.


class TeamsChannel(Strict):
    type: Literal["teams"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    webhook_url: SecretStr  # a Workflows (Power Automate) "webhook request" trigger URL
    """The Workflows webhook URL (its sig is the credential)."""

    _urls = field_validator("webhook_url")(check_url)


class DiscordChannel(Strict):
    type: Literal["discord"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    webhook_url: SecretStr  # https://discord.com/api/webhooks/<id>/<token>
    """The channel webhook URL (its token is the credential)."""
    username: str | None = Field(default=None, min_length=1, max_length=80)
    """Shown instead of the webhook's name."""

    _urls = field_validator("webhook_url")(check_url)

    @field_validator("username")
    @classmethod
    def _allowed_name(cls, value: str | None) -> str | None:
        if value is not None and any(w in value.lower() for w in ("discord", "clyde")):
            raise ValueError("Discord refuses a webhook username containing discord or clyde")
        return value


class MattermostChannel(Strict):
    type: Literal["mattermost"]
    """The provider: slack, pagerduty, email, sms, webhook or console."""
    webhook_url: SecretStr  # https://<server>/hooks/<key>
    """The incoming webhook URL (its key is the credential)."""
    channel: str | None = None  # overrides the webhook's channel (its name, or @user)
    """Posts to this channel (name, or @user) instead of the webhook's."""
    username: str | None = None  # shown when the server lets integrations override it
    """Shown instead of the webhook's name, if the server allows it."""

    _urls = field_validator("webhook_url")(check_url)


# -- issue 18, part A: SMTP, ntfy, Telegram --------------------------------------

# The contact method a channel type delivers, where it is not the type's own name:
# a contact's email (and an ``email:`` target) goes through SendGrid or SMTP alike.
METHOD_OF_TYPE = {"smtp": "email"}


def serves(channel_type: str) -> str:
    """The contact method (sms, email, slack) a channel of this type delivers."""
    return METHOD_OF_TYPE.get(channel_type, channel_type)


class SmtpChannel(Strict):
    """Email through your own mail server (docs/notifications.md#email-smtp)."""

    type: Literal["smtp"]
    """The provider: which kind of channel this is."""
    host: str = Field(min_length=1, description="The mail server (submission host or relay).")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default 587 (starttls), 465 (implicit), 25."
    )
    tls: Literal["starttls", "implicit", "none"] = Field(
        default="starttls",
        description="starttls (port 587), implicit TLS (port 465) or none (a local relay only).",
    )
    username: SecretStr | None = Field(default=None, description="SMTP AUTH user.")
    password: SecretStr | None = Field(default=None, description="SMTP AUTH password.")
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$", description="Sender address.")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        default=[], description="Recipients when the target names none."
    )
    ca_file: str | None = Field(
        default=None, description="A CA bundle (PEM) for a server with a private certificate."
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return value if is_placeholder(value) else host_name(value)

    @model_validator(mode="after")
    def _credentials(self) -> SmtpChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp takes username and password together, or neither")
        if self.password is not None and self.tls == "none":
            raise ValueError("smtp will not send a password without TLS: set tls to starttls")
        return self


NTFY_TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")


class NtfyChannel(Strict):
    """A push notification through an ntfy server's topic (docs/notifications.md#ntfy)."""

    type: Literal["ntfy"]
    """The provider: which kind of channel this is."""
    url: SecretStr = Field(
        description="The topic's URL, e.g. https://ntfy.sh/<topic>; a secret on a public server."
    )
    token: SecretStr | None = Field(default=None, description="An access token (tk_...).")
    username: SecretStr | None = Field(default=None, description="User, for basic auth.")
    password: SecretStr | None = Field(default=None, description="Password, for basic auth.")

    @field_validator("url")
    @classmethod
    def _topic_url(cls, value: SecretStr) -> SecretStr:
        check_url(value)
        if is_placeholder(value.get_secret_value()):
            return value
        path = value.get_secret_value().split("?", 1)[0].rstrip("/").rsplit("/", 1)
        if len(path) < 2 or not NTFY_TOPIC.fullmatch(path[1]) or path[0].endswith(":/"):
            raise ValueError("ntfy url must be the topic's URL, e.g. https://ntfy.sh/ops-alerts")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> NtfyChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("ntfy takes username and password together, or neither")
        if self.token is not None and self.username is not None:
            raise ValueError("ntfy takes a token or a username and password, not both")
        return self


TELEGRAM_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
TELEGRAM_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")


class TelegramChannel(Strict):
    """Messages from a Telegram bot to a chat (docs/notifications.md#telegram)."""

    type: Literal["telegram"]
    """The provider: which kind of channel this is."""
    token: SecretStr = Field(description="The bot's token from @BotFather (123456789:AA...).")
    chat_id: int | str = Field(
        description="The chat: a number (groups are negative) or @channelname."
    )
    api_url: str | None = None
    """Another address for the Bot API: a proxy, a local Bot API server, a test server."""

    _urls = field_validator("api_url")(check_url)

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not TELEGRAM_TOKEN.fullmatch(token) and not is_placeholder(token):
            raise ValueError("telegram token must look like 123456789:AAE... (from @BotFather)")
        return value

    @field_validator("chat_id")
    @classmethod
    def _chat(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not (TELEGRAM_CHAT.fullmatch(value) or is_placeholder(value)):
            raise ValueError("telegram chat_id must be a number like -1001234567890 or @channel")
        return value


Channel = Annotated[
    SlackChannel
    | PagerDutyChannel
    | EmailChannel
    | SmsChannel
    | WebhookChannel
    | ConsoleChannel
    | TeamsChannel
    | DiscordChannel
    | MattermostChannel
    | VoiceChannel
    | SmtpChannel
    | NtfyChannel
    | TelegramChannel,
    Field(discriminator="type"),
]


class Storm(Strict):
    """More than ``threshold`` distinct alerts paged to one address within ``window``
    is a storm: while it lasts, that address's notices go out as digests, each at
    most ``spacing`` after the oldest notice it holds (docs/notifications.md)."""

    window: Duration = Field(default=60.0, gt=0)
    """The window distinct alerts are counted in."""
    threshold: int = Field(default=5, ge=1)
    """Distinct alerts to one address within window that are paged singly; one more is a storm."""
    spacing: Duration = Field(default=5.0, gt=0)
    """In a storm, the longest a notice waits for its digest, and the least time between two
    digests."""

    @model_validator(mode="after")
    def _spacing_within_window(self) -> Storm:
        if self.spacing > self.window:
            raise ValueError(
                f"spacing ({self.spacing:g}s) must not be longer than window ({self.window:g}s)"
            )
        return self


class Notifications(Strict):
    templates: str | None = None
    """A directory of Jinja templates overriding the built-in ones."""
    timeout: Duration = Field(default=10.0, gt=0)
    """Per request to a provider."""
    retry_initial: Duration = Field(default=1.0, gt=0)
    """First retry delay; it doubles, with jitter, up to retry_max."""
    retry_max: Duration = Field(default=300.0, gt=0)
    """Longest retry delay."""
    max_age: Duration = Field(default=24 * 3600.0, gt=0)  # then dead-lettered
    """A notice still undelivered after this becomes a dead letter."""
    storm: Storm = Storm()
    """Many distinct alerts to one address: their notices go out as digests."""
