"""A JSON Schema (Draft 2020-12) of the configuration file, for editors.

    config_schema() -> dict          what ``sentinel schema`` prints
    render_schema() -> str           the same as text: indent 2, sorted keys, trailing newline

It is generated from the pydantic models, then shaped for the YAML people write
rather than for the parsed values: durations take ``30s`` as well as seconds,
sizes ``512KiB`` as well as bytes, secrets are plain strings, and wherever a
number, a boolean or a constrained string is expected a string holding a
``${VAR}`` reference is accepted too, because the loader substitutes it before
validation (and pydantic then reads ``"8080"`` as 8080). The ``type`` of a check
or a channel keeps its discriminator so that editors narrow completions.

The published copy is ``docs/config.schema.json``; a test keeps it current.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from sentinel.config.models import Config
from sentinel.config.units import MAX_DURATION, MAX_SIZE, parse_duration, parse_size

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:sentinel:config"  # no hosted copy yet: a name, not an address
SCHEMA_TITLE = "sentinel configuration"

# What the loader replaces (loader._VAR); ``$$`` needs no schema help.
ENV_REFERENCE = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"
# units.parse_duration: a number of seconds, or one or more <number><unit>; no spaces.
DURATION_TEXT = r"^([0-9]+(\.[0-9]+)?|([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+)$"
# units.parse_size: bytes, or a number and a unit.
SIZE_TEXT = r"^[0-9]{1,13} ?(B|KB|KiB|MB|MiB|GB|GiB)?$"
# What pydantic's lax mode reads as an int, a float or a bool from a string.
INTEGER_TEXT = r"^\s*[+-]?\d[\d_]*(\.0*)?\s*$"
NUMBER_TEXT = (
    r"^\s*[+-]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][+-]?\d+)?\s*$"
    r"|^\s*[+-]?([Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?|[Nn][Aa][Nn])\s*$"
)
_BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "t", "f", "y", "n", "1", "0")
BOOLEAN_TEXT = (
    "^("
    + "|".join(
        "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word) for word in _BOOLEAN_WORDS
    )
    + ")$"
)
# pydantic's datetime: ISO 8601 (date alone, or with a time and an optional offset),
# or a Unix timestamp.
DATETIME_TEXT = (
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$"
    r"|^\d+(\.\d+)?$"
)

_KIND = "x-sentinel-kind"  # a marker the generator leaves for the post-processing
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


# Shared definitions added next to the models' own.
_DEFS: dict[str, dict[str, Any]] = {
    "EnvReference": {
        "type": "string",
        "pattern": ENV_REFERENCE,
        "description": (
            "A string holding ${VAR} or ${VAR:-default}: replaced from the environment "
            "when the file loads, before the value is checked."
        ),
    },
    "Duration": {
        "description": (
            "A duration: 500ms, 30s, 5m, 1h, 1d, 1w, combinations such as 1h30m, "
            'or a number of seconds (30 or "30"); at most 10 years (3650d).'
        ),
        "anyOf": [
            {
                "type": "string",
                "pattern": DURATION_TEXT,
                "patternErrorMessage": "seconds, or a duration such as 500ms, 30s, 5m, 1h30m, 1d",
            },
            {"type": "number", "minimum": 0, "maximum": MAX_DURATION},
            _ref("EnvReference"),
        ],
    },
    "Size": {
        "description": "A size: a number of bytes, or 512KiB, 1MiB, 2MB, 1GiB; at most 1 GiB.",
        "anyOf": [
            {
                "type": "string",
                "pattern": SIZE_TEXT,
                "patternErrorMessage": "a size such as 1048576, 512KiB, 1MiB or 2MB",
            },
            {"type": "integer", "minimum": 0, "maximum": MAX_SIZE},
            _ref("EnvReference"),
        ],
    },
    "Secret": {
        "type": "string",
        "description": (
            "A secret, never logged or shown; usually a ${VAR} reference to the environment."
        ),
    },
    "DateTime": {
        "description": (
            "An ISO 8601 time such as 2026-01-05T09:00:00 (an offset such as +01:00 or Z "
            "is optional), or a Unix timestamp."
        ),
        "anyOf": [
            {"type": "string", "pattern": DATETIME_TEXT},
            {"type": "number"},
            _ref("EnvReference"),
        ],
    },
    "IntegerText": {
        "type": "string",
        "pattern": INTEGER_TEXT,
        "description": 'An integer written as a string, as in "500".',
    },
    "NumberText": {
        "type": "string",
        "pattern": NUMBER_TEXT,
        "description": 'A number written as a string, as in "1.5".',
    },
    "BooleanText": {
        "description": "A boolean written as 0 or 1, or as a word: yes, no, on, off, true, false.",
        "anyOf": [
            {"type": "string", "pattern": BOOLEAN_TEXT},
            {"type": "integer", "minimum": 0, "maximum": 1},
        ],
    },
}

_SECTIONS = {
    "server": "The HTTP listener (metrics, health, API, status page) and its tokens.",
    "storage": "Where state and check history live, and for how long.",
    "defaults": "interval and timeout for checks that do not set their own.",
    "scheduler": "How many check runs may be in progress at once.",
    "checks": "What to probe: one entry per check, its kind chosen by type.",
    "rules": "Alerting rules: a condition over the samples of the checks they match.",
    "slos": "Service level objectives: error budgets and burn-rate alerts (docs/slos.md).",
    "inhibit": "While a source alert fires, matching target alerts stay quiet.",
    "dependencies": "Check name -> the checks it depends on; a check whose dependency is down is not paged.",
    "contacts": "People who can be notified, by name.",
    "oncall": "On-call schedules by name: rotations, shifts, handoffs and overrides.",
    "channels": "Notification channels by name (slack, pagerduty, email, sms, webhook, console).",
    "escalation": "Who hears about an alert, and when, while nobody has acknowledged it.",
    "notifications": "Delivery: templates, timeouts, retries, dead letters and storm digests.",
    "maintenance": "Scheduled quiet windows (cron, duration) for matching alerts.",
    "reports": "Scheduled summary reports.",
    "watchdog": "Pings an external dead-man's switch so that a dead sentinel is noticed.",
}

_CHECK_COMMON = {
    "name": "Unique check name: letters, digits, '-', '_', '.'.",
    "type": "The probe: http, postgres, redis, tcp, tls, prometheus or heartbeat.",
    "interval": "How often the check runs (default: defaults.interval).",
    "timeout": "How long one run may take; must not exceed interval (default: defaults.timeout).",
    "labels": "Free labels, used by rule selectors, maintenance and the status page.",
    "description": "Shown on the status page.",
    "rules": "Inline rules that apply to this check only (without match).",
}

_CHANNEL_COMMON = {
    "type": "The provider: slack, pagerduty, email, sms, webhook or console.",
    "api_url": "Another address for the provider's API: a proxy, a regional endpoint, a test server.",
}

_FIELDS = {
    "Server.listen": "host:port of /metrics, /health, /ready and the API; [::]:port or :port.",
    "Server.external_url": "Base of links inside notifications (ack links, status page).",
    "Server.api_token": "Bearer token required by every endpoint that changes state.",
    "Server.ack_secret": "Signs the acknowledgement links in notifications; unset: a random key kept in the store.",
    "Server.ack_link_ttl": "How long an ack link in a notification works.",
    "Server.status_page": "The status page served at /.",
    "Server.auth_failures": "How many wrong bearer tokens a client address may send (then 429).",
    "Server.trusted_proxies": "Reverse proxies (addresses or networks) whose X-Forwarded-For names the client, for the wrong-token limit.",
    "AuthFailures.burst": "Wrong tokens an address may send at once.",
    "AuthFailures.refill": "Then one more each this often.",
    "StatusPage.title": "The page's title.",
    "StatusPage.allow_ack": "Show an Acknowledge button on active alerts (forms are CSRF-protected).",
    "StatusPage.refresh": "The page reloads itself this often (at least 5s).",
    "Storage.url": "sqlite:///abs/path.db, sqlite:relative.db, sqlite::memory: or postgresql://...",
    "Storage.history": "Check results older than this are pruned (hourly).",
    "Storage.pool_size": "PostgreSQL connections at most (ignored by sqlite).",
    "Defaults.interval": "Interval of checks that do not set their own.",
    "Defaults.timeout": "Timeout of checks that do not set their own.",
    "SchedulerOptions.max_concurrency": "Check runs in progress at once, all types together.",
    "HttpCheck.url": "The URL to request: http:// or https://.",
    "HttpCheck.method": "HTTP method.",
    "HttpCheck.headers": "Request headers.",
    "HttpCheck.body": "Request body: a mapping or list is sent as JSON, a string as-is.",
    "HttpCheck.auth": "basic (username, password) or bearer authentication.",
    "HttpCheck.follow_redirects": "Follow redirects.",
    "HttpCheck.max_redirects": "The most redirects followed before the check fails.",
    "HttpCheck.tls": "Certificate verification options.",
    "HttpCheck.fresh_connection": "true: a new TCP/TLS connection every run.",
    "HttpCheck.max_body": "Larger bodies fail the check.",
    "HttpCheck.expect": "What a passing response looks like.",
    "HttpCheck.extract": "Sample name -> JSON path of a number in the body.",
    "HttpAuth.basic": "Basic authentication.",
    "HttpAuth.bearer": "A bearer token.",
    "BasicAuth.username": "User name.",
    "BasicAuth.password": "Password.",
    "TlsOptions.verify": "Verify the server certificate; false accepts any certificate.",
    "TlsOptions.ca_file": "A PEM file of CA certificates to trust instead of the system's.",
    "HttpExpect.status": "Allowed status codes (default: any from 200 to 399).",
    "HttpExpect.json": "JSON path -> expected value, or a list of allowed values.",
    "HttpExpect.body_matches": "A regular expression that must match the body.",
    "HttpExpect.body_not_matches": "A regular expression that must not match the body.",
    "HttpExpect.headers": "Header -> regular expression that must match its value.",
    "PostgresCheck.dsn": "postgresql:// connection string.",
    "PostgresCheck.queries": "Sample name -> SQL returning one number, or rows of (label, number).",
    "PostgresCheck.statement_timeout": "Server-side limit on each query.",
    "RedisCheck.url": "redis:// or rediss:// URL.",
    "RedisCheck.keys": "Keys whose length (list, stream, sorted set, set) is reported.",
    "TcpCheck.target": "host:port to connect to.",
    "TcpCheck.send": "Text sent after connecting.",
    "TcpCheck.expect": "Text the answer must contain.",
    "TlsCheck.target": "host:port of the TLS server.",
    "TlsCheck.server_name": "SNI and the name the certificate must carry (default: the host).",
    "TlsCheck.ca_file": "A PEM file of CA certificates to trust instead of the system's.",
    "PrometheusCheck.url": "The /metrics URL to scrape: http:// or https://.",
    "PrometheusCheck.metrics": "Names or regular expressions of the series to keep.",
    "PrometheusCheck.headers": "Request headers.",
    "PrometheusCheck.auth": "basic (username, password) or bearer authentication.",
    "PrometheusCheck.tls": "Certificate verification options.",
    "HeartbeatCheck.every": "How often the job is expected to ping /ping/<name>.",
    "HeartbeatCheck.grace": "Extra time allowed after every before the check fails.",
    "HeartbeatCheck.key": "A key the ping must carry.",
    "Rule.name": "Alert name: letters, digits and '_', not starting with a digit.",
    "Rule.match": "Selector: check (a name glob), type, or a label that must be equal.",
    "Rule.expr": "The condition, e.g. up == 0 or p95(duration_seconds[5m]) > 2s.",
    "Rule.for": "How long the condition must hold before the alert fires.",
    "Rule.keep_firing_for": "How long the alert keeps firing after the condition clears.",
    "Rule.severity": "critical, high, medium or low: picks the escalation policy.",
    "Rule.summary": "Jinja template of the one-line summary.",
    "Rule.description": "Jinja template of the longer description.",
    "Rule.runbook": "A link to the runbook.",
    "Rule.labels": "Labels added to the alert.",
    "Rule.on_no_data": "When the check reports no sample: keep the state, resolve, or fire.",
    "Rule.escalation": "A named policy of escalation.policies instead of the severity's.",
    "Slo.name": "SLO name; its alerts are SLO:<name>:<pair>.",
    "Slo.match": "Selector of the checks it covers: check (a name glob), type, or labels.",
    "Slo.objective": "Share of runs that must be good over the window, e.g. 99.9%.",
    "Slo.window": "Rolling window of the objective and the error budget (default 30d).",
    "Slo.indicator": "availability (ok runs / all runs) or latency (ok runs faster than threshold / all).",
    "Slo.threshold": "latency: a good run finishes faster than this, e.g. 1s.",
    "Slo.description": "What the objective promises, shown with its alerts.",
    "Slo.labels": "Labels added to its alerts.",
    "Slo.escalation": "A named policy of escalation.policies instead of the severity's.",
    "Slo.alerts": "Burn-rate alert pairs by name: overrides of page-fast, page-slow, ticket (null turns one off), or new ones.",
    "BurnAlertOverride.factor": "Burn rate both windows must reach (1 spends the budget over the window).",
    "BurnAlertOverride.long": "The long window (e.g. 1h).",
    "BurnAlertOverride.short": "The short window (e.g. 5m): the alert resolves soon after it clears.",
    "BurnAlertOverride.severity": "critical, high, medium or low: picks the escalation policy.",
    "BurnAlertOverride.for": "How long the condition must hold before the alert fires.",
    "Inhibit.source": "The alert that, while firing, silences the targets.",
    "Inhibit.target": "The alerts silenced.",
    "Inhibit.equal": "Labels that must be equal in the source and the target.",
    "AlertMatcher.alert": "Alert (rule) name.",
    "AlertMatcher.labels": "Labels that must be equal.",
    "Contact.email": "Email address.",
    "Contact.phone": "Phone number in E.164 form, e.g. +15550100001.",
    "Contact.slack": "@user or a channel, reached through a Slack channel with a bot token.",
    "Contact.via": "The methods used at once when the contact is a target; a permanent failure falls through to the next.",
    "Rotation.rotation": "Contacts taking turns, in order.",
    "Rotation.shift": "Length of one turn.",
    "Rotation.handoff": "When the first turn starts, in timezone unless it carries an offset.",
    "Rotation.timezone": "IANA time zone of the handoff, e.g. Europe/London.",
    "Rotation.overrides": "Someone else on call for a while (holidays, swaps).",
    "Override.who": "The contact on call instead.",
    "Override.from": "When the override starts.",
    "Override.until": "When it ends.",
    "SlackChannel.token": "A bot token (xoxb-...); needs channel.",
    "SlackChannel.webhook_url": "An incoming webhook URL, instead of a token.",
    "SlackChannel.channel": "The channel a bot token posts to, e.g. #alerts.",
    "PagerDutyChannel.routing_key": "Events API v2 routing key.",
    "EmailChannel.api_key": "The email provider's API key.",
    "EmailChannel.from": "Sender address.",
    "EmailChannel.to": "Recipients when the target names none.",
    "SmsChannel.account_sid": "The SMS provider's account SID.",
    "SmsChannel.auth_token": "The SMS provider's auth token.",
    "SmsChannel.from": "Sending number.",
    "SmsChannel.to": "Recipients when the target names none.",
    "WebhookChannel.url": "Where notices are POSTed as JSON.",
    "WebhookChannel.secret": "Signs each request body (HMAC).",
    "WebhookChannel.headers": "Extra request headers.",
    "Escalation.critical": "Steps for critical alerts.",
    "Escalation.high": "Steps for high alerts.",
    "Escalation.medium": "Steps for medium alerts.",
    "Escalation.low": "Steps for low alerts.",
    "Escalation.policies": "Named step lists a rule can choose with escalation: <name>.",
    "Escalation.repeat_every": "While firing and unacknowledged, repeat after the last step this often.",
    "Escalation.ack_expires_after": "An acknowledged alert still firing escalates again after this.",
    "Step.after": "Time since the alert fired.",
    "Step.notify": "Targets: a channel, a contact, oncall:<schedule> or email:<address>.",
    "Notifications.templates": "A directory of Jinja templates overriding the built-in ones.",
    "Notifications.timeout": "Per request to a provider.",
    "Notifications.retry_initial": "First retry delay; it doubles, with jitter, up to retry_max.",
    "Notifications.retry_max": "Longest retry delay.",
    "Notifications.max_age": "A notice still undelivered after this becomes a dead letter.",
    "Notifications.storm": "Many distinct alerts to one address: their notices go out as digests.",
    "Storm.window": "The window distinct alerts are counted in.",
    "Storm.threshold": "Distinct alerts to one address within window that are paged singly; one more is a storm.",
    "Storm.spacing": "In a storm, the longest a notice waits for its digest, and the least time between two digests.",
    "Maintenance.name": "Name of the window.",
    "Maintenance.cron": "When it starts: a 5-field cron expression.",
    "Maintenance.duration": "How long it lasts.",
    "Maintenance.timezone": "IANA time zone of the cron expression.",
    "Maintenance.match": "Labels of the checks it silences.",
    "Report.name": "Name of the report.",
    "Report.cron": "When it is sent: a 5-field cron expression.",
    "Report.period": "The time it covers.",
    "Report.notify": "Targets, as in escalation steps.",
    "Report.timezone": "IANA time zone of the cron expression.",
    "Watchdog.url": "The dead-man's switch URL pinged; empty: no watchdog.",
    "Watchdog.every": "How often it is pinged.",
}


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, as published in docs/config.schema.json."""
    schema = Config.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    defs: dict[str, Any] = {}
    for name, sub in schema.pop("$defs", {}).items():
        if name in _DEFS:
            raise RuntimeError(f"a config model is named {name}: rename it in schema._DEFS")
        defs[name] = _shape(sub)
        _describe(name, defs[name])
    schema = _shape(schema)
    _describe("Config", schema)
    schema["$defs"] = {**defs, **copy.deepcopy(_DEFS)}
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        **schema,
        "title": SCHEMA_TITLE,
        "description": (
            "sentinel's YAML configuration. ${VAR} and ${VAR:-default} in string values "
            "come from the environment when the file loads."
        ),
    }


def render_schema() -> str:
    """config_schema() as text: indent 2, sorted keys, a trailing newline."""
    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class _Generator(GenerateJsonSchema):
    """pydantic's generator, marking durations and sizes and writing defaults as users would."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        kind = _unit_kind(schema)
        inner = super().function_before_schema(schema)
        if kind is None:
            return inner
        bounds = {k: v for k, v in inner.items() if k != "type"}
        return {_KIND: kind, **bounds}

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" not in json_schema:
            return json_schema
        default = self.get_default_value(schema)
        if isinstance(default, BaseModel):
            # A section's own properties carry their defaults; its dump would hide secrets.
            del json_schema["default"]
        elif isinstance(default, SecretStr):
            json_schema["default"] = default.get_secret_value()
        elif isinstance(default, int | float) and _unit_kind(schema["schema"]) == "Duration":
            json_schema["default"] = _duration_text(float(default))
        return json_schema


def _unit_kind(schema: CoreSchema) -> str | None:
    """The shared definition for a units.Duration or units.Size field, through wrappers."""
    node: Any = schema
    while node.get("type") in ("function-after", "nullable", "default"):
        node = node["schema"]
    if node.get("type") != "function-before":
        return None
    func: Callable[..., Any] = node["function"]["function"]
    if func is parse_duration:
        return "Duration"
    if func is parse_size:
        return "Size"
    return None


def _duration_text(seconds: float) -> str:
    """The largest whole unit: 0 -> 0s, 86400 -> 1d, 7776000 -> 90d, 0.5 -> 500ms."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds == 0:
        return "0s"
    return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


def _shape(node: Any) -> Any:
    """One schema node, children first, reshaped for the YAML users write."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("properties", "$defs", "patternProperties"):
        if isinstance(node.get(key), dict):
            node[key] = {k: _shape(v) for k, v in node[key].items()}
    for key in ("items", "additionalProperties", "not", "contains", "propertyNames"):
        if isinstance(node.get(key), dict):
            node[key] = _shape(node[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(node.get(key), list):
            node[key] = [_shape(v) for v in node[key]]
    for raw, keyword in _BOUNDS.items():  # pydantic leaves gt=0 raw on an optional duration
        if raw in node and keyword not in node:
            node[keyword] = node.pop(raw)
    if "anyOf" in node:
        node["anyOf"] = _flatten(node["anyOf"])
        return node
    return _scalar(node)


def _scalar(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.pop(_KIND, None)
    if kind is not None:
        return {**_ref(kind), **node}
    annotations = {k: node.pop(k) for k in _ANNOTATIONS if k in node}
    kind_of = node.get("type")
    if node.get("format") == "password":
        return {**_ref("Secret"), **annotations}
    if kind_of == "string" and node.get("format") == "date-time":
        return {**_ref("DateTime"), **annotations}
    if kind_of == "integer":
        options = [node, _ref("IntegerText"), _ref("EnvReference")]
    elif kind_of == "number":
        options = [node, _ref("NumberText"), _ref("EnvReference")]
    elif kind_of == "boolean":
        options = [node, _ref("BooleanText"), _ref("EnvReference")]
    elif kind_of == "string" and "const" not in node and node.keys() - {"type"}:
        # A pattern, an enum or a length: "${VAR}" passes once substituted, not as written.
        options = [node, _ref("EnvReference")]
    else:
        return {**node, **annotations}
    return {"anyOf": options, **annotations}


def _flatten(options: list[Any]) -> list[Any]:
    """anyOf members that are bare anyOfs are spliced in; repeats are dropped."""
    out: list[Any] = []
    for option in options:
        inner = (
            option["anyOf"] if isinstance(option, dict) and option.keys() == {"anyOf"} else [option]
        )
        out += [o for o in inner if o not in out]
    return out


def _describe(name: str, node: dict[str, Any]) -> None:
    """Descriptions for one model's properties: pydantic's when it has one, else ours."""
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return
    for key, prop in properties.items():
        text = _SECTIONS.get(key) if name == "Config" else _FIELDS.get(f"{name}.{key}")
        if text is None and name.endswith("Check"):
            text = _CHECK_COMMON.get(key)
        if text is None and name.endswith("Channel"):
            text = _CHANNEL_COMMON.get(key)
        if text is not None and "description" not in prop:
            prop["description"] = text
