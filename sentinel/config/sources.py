"""Inbound alert sources: Alertmanager, Grafana and PagerDuty Events v2-compatible
senders whose alerts sentinel escalates like its own (docs/sources.md).

Each source has a name (its URL path segment), a type, how its requests prove who
they are, how an alert's labels pick its severity and escalation policy, and how big
one request may be.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from sentinel.config.checks import NAME, Strict
from sentinel.config.rule import Severity
from sentinel.config.units import Size

SourceType = Literal["alertmanager", "grafana", "events"]

DEFAULT_MAX_BODY = 4 * 1024 * 1024  # a group of 1,000 alerts with long generatorURLs fits
# What monitoring tools call their severities, and what sentinel pages them as.
DEFAULT_SEVERITIES: dict[str, Severity] = {
    "critical": "critical",
    "page": "critical",
    "error": "high",
    "high": "high",
    "major": "high",
    "warning": "medium",
    "warn": "medium",
    "medium": "medium",
    "minor": "medium",
    "info": "low",
    "low": "low",
    "none": "low",
}


class BasicAuth(Strict):
    """HTTP basic auth, as Alertmanager's ``http_config.basic_auth`` and Grafana's
    contact point send it."""

    username: str = Field(min_length=1)
    """The user name the sender sends."""
    password: SecretStr
    """The password the sender sends (use ${VAR})."""


class SourceRoute(Strict):
    """Alerts whose labels all equal ``match`` take this severity and/or policy."""

    match: dict[str, str] = {}
    """Labels the alert must carry, each with exactly this value (empty: every alert)."""
    severity: Severity | None = None
    """The severity to page these alerts as, over the label's."""
    escalation: str | None = None
    """A named policy of escalation.policies for these alerts."""
    labels: dict[str, str] = {}
    """Labels added to these alerts (for silences, inhibition, routing)."""


class Source(Strict):
    """One sender of alerts, reached at ``/api/v1/sources/<type>/<name>``."""

    name: str = Field(pattern=NAME)
    """The source's name: its URL path segment and the alerts' `check`."""
    type: SourceType
    """alertmanager, grafana (webhook contact point) or events (PagerDuty Events v2)."""
    token: SecretStr | None = None
    """Bearer token the sender must send (``Authorization: Bearer <token>``); use ${VAR}."""
    basic_auth: BasicAuth | None = None
    """Or: basic auth the sender must send."""
    routing_key: SecretStr | None = None
    """events: the integration key senders put in ``routing_key`` (it selects and
    authenticates the source); use ${VAR}."""
    severity_label: str = "severity"
    """The label whose value names the severity (events: the payload's severity)."""
    severities: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    """Label value -> severity (critical, high, medium, low). Default: critical and
    page -> critical, error -> high, warning -> medium, info -> low."""
    default_severity: Severity = "high"
    """The severity of an alert whose label is missing or not in ``severities``."""
    escalation: str | None = None
    """A named policy of escalation.policies for this source's alerts (default: the
    severity's)."""
    routes: list[SourceRoute] = []
    """Per-label routing: the first route whose ``match`` holds decides."""
    labels: dict[str, str] = {}
    """Labels added to every alert of this source."""
    max_body: Size = Field(default=DEFAULT_MAX_BODY, gt=0)
    """The largest request body taken (e.g. 4MiB); a larger one is refused with 413
    while it is read."""

    @model_validator(mode="after")
    def _auth(self) -> Source:
        if self.type == "events":
            if self.routing_key is None or not self.routing_key.get_secret_value():
                raise ValueError("an events source needs a routing_key")
            if self.token is not None or self.basic_auth is not None:
                raise ValueError("an events source is authenticated by its routing_key only")
            return self
        if self.routing_key is not None:
            raise ValueError("routing_key is for events sources")
        if (self.token is None) == (self.basic_auth is None):
            raise ValueError("set exactly one of token and basic_auth")
        if self.token is not None and not self.token.get_secret_value():
            raise ValueError("token is empty")
        return self
