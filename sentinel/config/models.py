"""The whole configuration file as pydantic models.

Config is inert, validated data. Sections whose machinery arrives in later
work (rules, routing, escalation, reports) are validated and kept now so that
a production file is checked whole.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, PrivateAttr, SecretStr, field_validator, model_validator

from sentinel.config.addresses import host_name, http_url, is_placeholder, storage_url
from sentinel.config.checks import DEFAULT_INTERVAL, DEFAULT_TIMEOUT, NAME, Check, Strict, inherit
from sentinel.config.cron import crontab
from sentinel.config.quote import clip_quoted, shown
from sentinel.config.rule import Rule
from sentinel.config.slo import Slo
from sentinel.config.sources import Source
from sentinel.config.units import Duration, parse_duration

LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]*\]|[^\s:\[\]]*):(?P<port>\d{1,5})$")


def split_listen(listen: str) -> tuple[str, int]:
    """``0.0.0.0:9464`` -> ("0.0.0.0", 9464); ``[::]:9464`` -> ("::", 9464); ``:9464`` -> all."""
    m = LISTEN.fullmatch(listen)
    if not m or int(m.group("port")) > 65535:
        raise ValueError(f"listen address {shown(listen)} must be host:port, e.g. 0.0.0.0:9464")
    host = m.group("host").strip("[]") or "0.0.0.0"  # noqa: S104 ":9464" means all interfaces, as documented
    return host, int(m.group("port"))


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {shown(value)}: expected one like Europe/Berlin"
        ) from None
    return value


def check_cron(value: str) -> str:
    try:
        crontab(value)
    except ValueError as exc:
        raise ValueError(
            f"invalid cron expression {shown(value)}: {clip_quoted(str(exc))}"
        ) from None
    return value


def check_url(value: Any) -> Any:
    """A URL field (plain or secret), unless unset (None): an http(s) URL that works."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text is not None:
        http_url(text)
    return value


class StatusPage(Strict):
    title: str = "sentinel"
    """The page's title."""
    allow_ack: bool = False
    """Show an Acknowledge button on active alerts (forms are CSRF-protected)."""
    refresh: Duration = Field(default=30.0, ge=5.0)
    """The page reloads itself this often (at least 5s)."""
    public: bool = False
    """Serve /public: incidents' titles, status and status updates, without contacts, addresses, labels or checks' details (for customers)."""


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(
            f"{shown(value)} is not an IP address or network (e.g. 10.0.0.0/8)"
        ) from None
    return value


class AuthFailures(Strict):
    """Wrong bearer tokens a client address may send: ``burst`` at once, then one a ``refill``."""

    burst: int = Field(default=10, ge=1, le=1_000_000)
    """Wrong tokens an address may send at once."""
    refill: Duration = Field(default=1.0, gt=0, le=86400.0)
    """Then one more each this often."""


class Server(Strict):
    listen: str = "0.0.0.0:9464"
    """host:port of /metrics, /health, /ready and the API; [::]:port or :port."""
    external_url: str | None = None
    """Base of links inside notifications (ack links, status page)."""
    api_token: SecretStr | None = None
    """Bearer token required by every endpoint that changes state."""
    ack_secret: SecretStr | None = None
    """Signs the acknowledgement links in notifications; unset: a random key kept in the store."""
    ack_link_ttl: Duration = Field(default=24 * 3600.0, gt=0)
    """How long an ack link in a notification works."""
    status_page: StatusPage = StatusPage()
    """The status page served at /."""
    auth_failures: AuthFailures = AuthFailures()
    """How many wrong bearer tokens a client address may send (then 429)."""
    trusted_proxies: list[Annotated[str, AfterValidator(_network)]] = Field(
        default=[], max_length=100
    )
    """Reverse proxies (addresses or networks) whose X-Forwarded-For names the client, for the
    wrong-token limit."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value

    _external_url = field_validator("external_url")(check_url)


class Storage(Strict):
    url: SecretStr = SecretStr("sqlite:///var/lib/sentinel/sentinel.db")
    """sqlite:///abs/path.db, sqlite:relative.db, sqlite::memory: or postgresql://..."""
    history: Duration = 90 * 86400.0
    """Check results older than this are pruned (hourly)."""
    pool_size: int = Field(default=4, ge=1, le=100)
    """PostgreSQL connections at most (ignored by sqlite)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        storage_url(value.get_secret_value())
        return value


class Defaults(Strict):
    interval: Duration = Field(default=30.0, gt=0)
    """Interval of checks that do not set their own."""
    timeout: Duration = Field(default=5.0, gt=0)
    """Timeout of checks that do not set their own."""


class SchedulerOptions(Strict):
    max_concurrency: int = Field(default=500, ge=1, le=100_000)
    """Check runs in progress at once, all types together."""


class AlertMatcher(Strict):
    alert: str | None = None
    """Alert (rule) name."""
    labels: dict[str, str] = {}
    """Labels that must be equal."""


class Inhibit(Strict):
    source: AlertMatcher
    """The alert that, while firing, silences the targets."""
    target: AlertMatcher
    """The alerts silenced."""
    equal: list[str] = []
    """Labels that must be equal in the source and the target."""


ContactMethod = Literal["sms", "email", "slack", "voice"]


class Contact(Strict):
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    """Email address."""
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    """Phone number in E.164 form, e.g. +15550100001."""
    slack: str | None = None
    """Where a Slack channel with a bot token posts this person's pages: a member ID (U...),
    @user or #channel. A member ID also names who pressed a button."""
    slack_user: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$")
    """This person's Slack member ID (U..., profile > Copy member ID): their Acknowledge
    and Silence buttons act as them. Unset: slack, when it is a member ID."""
    # The methods used when the contact is a target, in order: those after `voice` wait for
    # the call (sentinel.notify.waiting); a permanent failure of one falls through to the
    # contact's next method not listed here (sms, email, slack, voice).
    via: list[ContactMethod] = Field(default=["sms", "email"], min_length=1)
    """The methods used when the contact is a target, in order: those before voice and the call
    at once, those after voice only when the call does not get the alert acknowledged; a
    permanent failure falls through to the next."""


class Override(Strict):
    who: str
    """The contact on call instead."""
    from_: datetime = Field(alias="from")
    """When the override starts."""
    until: datetime
    """When it ends."""

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.until <= self.from_:
            raise ValueError("until must be after from")
        return self


class Rotation(Strict):
    rotation: list[str] = Field(min_length=1)
    """Contacts taking turns, in order."""
    shift: Duration = Field(default=7 * 86400.0, gt=0)
    """Length of one turn."""
    handoff: datetime
    """When the first turn starts, in timezone unless it carries an offset."""
    timezone: str = "UTC"
    """IANA time zone of the handoff, e.g. Europe/London."""
    overrides: list[Override] = []
    """Someone else on call for a while (holidays, swaps)."""

    _tz = field_validator("timezone")(check_timezone)


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


class Step(Strict):
    after: Duration = 0.0
    """Time since the alert fired."""
    notify: list[str] = Field(min_length=1)
    """Targets: a channel, a contact, oncall:<schedule> or email:<address>."""


class Escalation(Strict):
    critical: list[Step] = []
    """Steps for critical alerts."""
    high: list[Step] = []
    """Steps for high alerts."""
    medium: list[Step] = []
    """Steps for medium alerts."""
    low: list[Step] = []
    """Steps for low alerts."""
    # Named policies a rule may choose with `escalation: <name>` instead of its severity's.
    policies: dict[str, list[Step]] = {}
    """Named step lists a rule can choose with escalation: <name>."""
    repeat_every: Duration | None = Field(default=None, gt=0)
    """While firing and unacknowledged, repeat after the last step this often."""
    ack_expires_after: Duration | None = Field(default=None, gt=0)
    """An acknowledged alert still firing escalates again after this."""


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


class Maintenance(Strict):
    name: str
    """Name of the window."""
    cron: str
    """When it starts: a 5-field cron expression."""
    duration: Duration = Field(gt=0)
    """How long it lasts."""
    timezone: str = "UTC"
    """IANA time zone of the cron expression."""
    match: dict[str, str] = {}
    """Labels of the checks it silences."""

    _cron = field_validator("cron")(check_cron)
    _tz = field_validator("timezone")(check_timezone)


class Report(Strict):
    name: str
    """Name of the report."""
    cron: str
    """When it is sent: a 5-field cron expression."""
    period: Duration = Field(gt=0)
    """The time it covers."""
    notify: list[str] = Field(min_length=1)
    """Targets, as in escalation steps."""
    timezone: str = "UTC"
    """IANA time zone of the cron expression."""

    _cron = field_validator("cron")(check_cron)
    _tz = field_validator("timezone")(check_timezone)


class Watchdog(Strict):
    url: SecretStr = SecretStr("")
    """The dead-man's switch URL pinged; empty: no watchdog."""
    every: Duration = Field(default=60.0, gt=0)
    """How often it is pinged."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        return check_url(value) if value.get_secret_value() else value  # "": no watchdog


RemindSeverity = Literal["critical", "high", "medium", "low"]


class Incidents(Strict):
    """Status updates on incidents (docs/incidents.md): per severity, how long an
    incident may stay ``investigating`` without an update before the person handling it
    is reminded; a severity left out is never reminded."""

    remind_after: dict[RemindSeverity, Duration] = Field(
        default_factory=lambda: dict[RemindSeverity, float]({"critical": 1800.0})
    )
    """Per severity, how long an incident may stay investigating without a status update before its acknowledger (else the first step) is reminded; a severity left out is never reminded."""

    @field_validator("remind_after")
    @classmethod
    def _positive(cls, value: dict[RemindSeverity, float]) -> dict[RemindSeverity, float]:
        if any(v <= 0 for v in value.values()):
            raise ValueError("remind_after: each interval must be longer than 0")
        return value


class Config(Strict):
    server: Server = Server()
    """The HTTP listener (metrics, health, API, status page) and its tokens."""
    storage: Storage = Storage()
    """Where state and check history live, and for how long."""
    defaults: Defaults = Defaults()
    """interval and timeout for checks that do not set their own."""
    scheduler: SchedulerOptions = SchedulerOptions()
    """How many check runs may be in progress at once."""
    checks: list[Check] = []
    """What to probe: one entry per check, its kind chosen by type."""
    rules: list[Rule] = []
    """Alerting rules: a condition over the samples of the checks they match."""
    slos: list[Slo] = []
    """Service level objectives: error budgets and burn-rate alerts (docs/slos.md)."""
    sources: list[Source] = []
    """Inbound alerts: Alertmanager, Grafana, PagerDuty Events v2 senders (docs/sources.md)."""
    inhibit: list[Inhibit] = []
    """While a source alert fires, matching target alerts stay quiet."""
    dependencies: dict[str, list[str]] = {}
    """Check name -> the checks it depends on; a check whose dependency is down is not paged."""
    contacts: dict[str, Contact] = {}
    """People who can be notified, by name."""
    oncall: dict[str, Rotation] = {}
    """On-call schedules by name: rotations, shifts, handoffs and overrides."""
    channels: dict[str, Channel] = {}
    """Notification channels by name (slack, pagerduty, email, sms, webhook, console)."""
    escalation: Escalation = Escalation()
    """Who hears about an alert, and when, while nobody has acknowledged it."""
    notifications: Notifications = Notifications()
    """Delivery: templates, timeouts, retries, dead letters and storm digests."""
    maintenance: list[Maintenance] = []
    """Scheduled quiet windows (cron, duration) for matching alerts."""
    reports: list[Report] = []
    """Scheduled summary reports."""
    watchdog: Watchdog = Watchdog()
    """Pings an external dead-man's switch so that a dead sentinel is noticed."""
    incidents: Incidents = Incidents()
    """Incident status updates: when to remind the person handling one."""
    # The string values ${VAR} interpolation produced (the loader fills it): redacted
    # from /api/v1/config like secrets, since the environment is where secrets live.
    _from_env: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        """Checks without their own interval or timeout take ``defaults:`` (checks.inherit)."""
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults")
        checks = data.get("checks")
        if not isinstance(defaults, dict) or not isinstance(checks, list):
            return data
        inherited = {"interval": DEFAULT_INTERVAL, "timeout": DEFAULT_TIMEOUT}
        for key in inherited:
            try:
                parse_duration(defaults.get(key))
            except ValueError:
                continue  # unset, or its own problem is reported
            inherited[key] = defaults[key]
        data = dict(data)
        data["checks"] = [inherit(c, **inherited) for c in checks]
        return data

    @field_validator("contacts", "oncall", "channels")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(NAME, name):
                raise ValueError(f"invalid name {shown(name)}: use letters, digits, '-', '_', '.'")
        return value
