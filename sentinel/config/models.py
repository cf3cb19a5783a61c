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

from sentinel.config.addresses import http_url, storage_url
from sentinel.config.checks import DEFAULT_INTERVAL, DEFAULT_TIMEOUT, NAME, Check, Strict, inherit
from sentinel.config.cron import crontab
from sentinel.config.quote import clip_quoted, shown
from sentinel.config.rule import Rule
from sentinel.config.slo import Slo
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
    allow_ack: bool = False  # show an Acknowledge button on active alerts (CSRF-protected)
    refresh: Duration = Field(default=30.0, ge=5.0)  # the page reloads itself this often


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
    refill: Duration = Field(default=1.0, gt=0, le=86400.0)


class Server(Strict):
    listen: str = "0.0.0.0:9464"
    external_url: str | None = None
    api_token: SecretStr | None = None
    # Signs the acknowledgement links in notifications. Unset: a random key kept in the store.
    ack_secret: SecretStr | None = None
    ack_link_ttl: Duration = Field(default=24 * 3600.0, gt=0)
    status_page: StatusPage = StatusPage()
    auth_failures: AuthFailures = AuthFailures()
    # Reverse proxies whose X-Forwarded-For names the client (addresses or networks).
    trusted_proxies: list[Annotated[str, AfterValidator(_network)]] = Field(
        default=[], max_length=100
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value

    _external_url = field_validator("external_url")(check_url)


class Storage(Strict):
    url: SecretStr = SecretStr("sqlite:///var/lib/sentinel/sentinel.db")
    history: Duration = 90 * 86400.0
    pool_size: int = Field(default=4, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        storage_url(value.get_secret_value())
        return value


class Defaults(Strict):
    interval: Duration = Field(default=30.0, gt=0)
    timeout: Duration = Field(default=5.0, gt=0)


class SchedulerOptions(Strict):
    max_concurrency: int = Field(default=500, ge=1, le=100_000)


class AlertMatcher(Strict):
    alert: str | None = None
    labels: dict[str, str] = {}


class Inhibit(Strict):
    source: AlertMatcher
    target: AlertMatcher
    equal: list[str] = []


ContactMethod = Literal["sms", "email", "slack"]


class Contact(Strict):
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    slack: str | None = None
    # The methods tried at once when the contact is a target; a permanent failure of
    # one falls through to the contact's next method not listed here (sms, email, slack).
    via: list[ContactMethod] = Field(default=["sms", "email"], min_length=1)


class Override(Strict):
    who: str
    from_: datetime = Field(alias="from")
    until: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.until <= self.from_:
            raise ValueError("until must be after from")
        return self


class Rotation(Strict):
    rotation: list[str] = Field(min_length=1)
    shift: Duration = Field(default=7 * 86400.0, gt=0)
    handoff: datetime
    timezone: str = "UTC"
    overrides: list[Override] = []

    _tz = field_validator("timezone")(check_timezone)


class SlackChannel(Strict):
    type: Literal["slack"]
    token: SecretStr | None = None
    webhook_url: SecretStr | None = None
    channel: str | None = None
    api_url: str | None = None

    _urls = field_validator("webhook_url", "api_url")(check_url)

    @model_validator(mode="after")
    def _one_way(self) -> SlackChannel:
        if (self.token is None) == (self.webhook_url is None):
            raise ValueError("slack takes exactly one of token (with channel) or webhook_url")
        if self.token is not None and not self.channel:
            raise ValueError("slack with a bot token needs channel")
        return self


class PagerDutyChannel(Strict):
    type: Literal["pagerduty"]
    routing_key: SecretStr
    api_url: str | None = None

    _urls = field_validator("api_url")(check_url)


class EmailChannel(Strict):
    type: Literal["email"]
    api_key: SecretStr
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[str] = []
    api_url: str | None = None

    _urls = field_validator("api_url")(check_url)


class SmsChannel(Strict):
    type: Literal["sms"]
    account_sid: SecretStr
    auth_token: SecretStr
    from_: str = Field(alias="from")
    to: list[str] = []
    api_url: str | None = None

    _urls = field_validator("api_url")(check_url)


class WebhookChannel(Strict):
    type: Literal["webhook"]
    url: SecretStr
    secret: SecretStr | None = None
    headers: dict[str, str] = {}

    _urls = field_validator("url")(check_url)


class ConsoleChannel(Strict):
    type: Literal["console"]


Channel = Annotated[
    SlackChannel | PagerDutyChannel | EmailChannel | SmsChannel | WebhookChannel | ConsoleChannel,
    Field(discriminator="type"),
]


class Step(Strict):
    after: Duration = 0.0
    notify: list[str] = Field(min_length=1)


class Escalation(Strict):
    critical: list[Step] = []
    high: list[Step] = []
    medium: list[Step] = []
    low: list[Step] = []
    # Named policies a rule may choose with `escalation: <name>` instead of its severity's.
    policies: dict[str, list[Step]] = {}
    repeat_every: Duration | None = Field(default=None, gt=0)
    ack_expires_after: Duration | None = Field(default=None, gt=0)


class Storm(Strict):
    """More than ``threshold`` distinct alerts paged to one address within ``window``
    is a storm: while it lasts, that address's notices go out as digests, each at
    most ``spacing`` after the oldest notice it holds (docs/notifications.md)."""

    window: Duration = Field(default=60.0, gt=0)
    threshold: int = Field(default=5, ge=1)
    spacing: Duration = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _spacing_within_window(self) -> Storm:
        if self.spacing > self.window:
            raise ValueError(
                f"spacing ({self.spacing:g}s) must not be longer than window ({self.window:g}s)"
            )
        return self


class Notifications(Strict):
    templates: str | None = None  # a directory whose templates override the built-in ones
    timeout: Duration = Field(default=10.0, gt=0)  # per request to a provider
    retry_initial: Duration = Field(default=1.0, gt=0)
    retry_max: Duration = Field(default=300.0, gt=0)
    max_age: Duration = Field(default=24 * 3600.0, gt=0)  # then dead-lettered
    storm: Storm = Storm()


class Maintenance(Strict):
    name: str
    cron: str
    duration: Duration = Field(gt=0)
    timezone: str = "UTC"
    match: dict[str, str] = {}

    _cron = field_validator("cron")(check_cron)
    _tz = field_validator("timezone")(check_timezone)


class Report(Strict):
    name: str
    cron: str
    period: Duration = Field(gt=0)
    notify: list[str] = Field(min_length=1)
    timezone: str = "UTC"

    _cron = field_validator("cron")(check_cron)
    _tz = field_validator("timezone")(check_timezone)


class Watchdog(Strict):
    url: SecretStr = SecretStr("")
    every: Duration = Field(default=60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        return check_url(value) if value.get_secret_value() else value  # "": no watchdog


class Config(Strict):
    server: Server = Server()
    storage: Storage = Storage()
    defaults: Defaults = Defaults()
    scheduler: SchedulerOptions = SchedulerOptions()
    checks: list[Check] = []
    rules: list[Rule] = []
    slos: list[Slo] = []  # service level objectives (docs/slos.md)
    inhibit: list[Inhibit] = []
    dependencies: dict[str, list[str]] = {}
    contacts: dict[str, Contact] = {}
    oncall: dict[str, Rotation] = {}
    channels: dict[str, Channel] = {}
    escalation: Escalation = Escalation()
    notifications: Notifications = Notifications()
    maintenance: list[Maintenance] = []
    reports: list[Report] = []
    watchdog: Watchdog = Watchdog()
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
