"""The whole configuration file as pydantic models: :class:`Config` and its small sections.

Config is inert, validated data. Sections whose machinery arrives in later
work (rules, routing, escalation, reports) are validated and kept now so that
a production file is checked whole. The larger sections live beside it:
checks in :mod:`~sentinel.config.checks`, channels and delivery in
:mod:`~sentinel.config.channels`, contacts, on-call and escalation in
:mod:`~sentinel.config.people`; their models are re-exported here, so
``from sentinel.config.models import X`` names any model of the file.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr, SecretStr, field_validator, model_validator

from sentinel.config.addresses import check_url, secret_checked, storage_url
from sentinel.config.channels import (
    Channel,
    ConsoleChannel,
    DiscordChannel,
    EmailChannel,
    MattermostChannel,
    Notifications,
    NtfyChannel,
    PagerDutyChannel,
    SlackChannel,
    SmsChannel,
    SmtpChannel,
    Storm,
    TeamsChannel,
    TelegramChannel,
    VoiceChannel,
    WebhookChannel,
    serves,
)
from sentinel.config.checks import DEFAULT_INTERVAL, DEFAULT_TIMEOUT, NAME, Check, Strict, inherit
from sentinel.config.cron import check_cron, check_timezone
from sentinel.config.people import Contact, ContactMethod, Escalation, Override, Rotation, Step
from sentinel.config.quote import shown
from sentinel.config.rule import Rule
from sentinel.config.slo import Slo
from sentinel.config.sources import Source
from sentinel.config.units import Duration, parse_duration

__all__ = [
    "AlertMatcher",
    "AuthFailures",
    "Channel",
    "Config",
    "ConsoleChannel",
    "Contact",
    "ContactMethod",
    "Defaults",
    "DiscordChannel",
    "EmailChannel",
    "Escalation",
    "Incidents",
    "Inhibit",
    "Maintenance",
    "MattermostChannel",
    "Notifications",
    "NtfyChannel",
    "Override",
    "PagerDutyChannel",
    "RemindSeverity",
    "Report",
    "Rotation",
    "SchedulerOptions",
    "Server",
    "SlackChannel",
    "SmsChannel",
    "SmtpChannel",
    "StatusPage",
    "Step",
    "Storage",
    "Storm",
    "TeamsChannel",
    "TelegramChannel",
    "VoiceChannel",
    "Watchdog",
    "WebhookChannel",
    "serves",
    "split_listen",
]

LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]*\]|[^\s:\[\]]*):(?P<port>\d{1,5})$")


def split_listen(listen: str) -> tuple[str, int]:
    """``0.0.0.0:9464`` -> ("0.0.0.0", 9464); ``[::]:9464`` -> ("::", 9464); ``:9464`` -> all."""
    m = LISTEN.fullmatch(listen)
    if not m or int(m.group("port")) > 65535:
        raise ValueError(f"listen address {shown(listen)} must be host:port, e.g. 0.0.0.0:9464")
    host = m.group("host").strip("[]") or "0.0.0.0"  # noqa: S104 ":9464" means all interfaces, as documented
    return host, int(m.group("port"))


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

    _url = field_validator("url")(secret_checked(storage_url))


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
