"""The ``checks:`` section: one model per probe type, told apart by ``type``.

Adding a probe type touches three places: its model here (and in ``Check``),
its module in ``sentinel/probes/``, and its line in the probe registry.
"""

from __future__ import annotations

import contextlib
import re
from typing import Annotated, Any, Literal

from jsonpath_ng import parse as parse_jsonpath  # type: ignore[attr-defined]
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sentinel.config.addresses import (
    host_name,
    host_port,
    http_url,
    postgres_dsn,
    redis_url,
    secret_checked,
)
from sentinel.config.quote import shown
from sentinel.config.rule import Rule
from sentinel.config.units import Duration, Size, parse_duration

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SAMPLE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class Strict(BaseModel):
    """Every config model rejects keys it does not know."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


def check_jsonpath(path: str) -> str:
    if not path.startswith("$"):
        raise ValueError(f"JSON path {shown(path)} must start with $")
    try:
        parse_jsonpath(path)
    except Exception:  # jsonpath-ng raises several exception types, RecursionError too
        raise ValueError(f"invalid JSON path {shown(path)}: expected one like $.status") from None
    return path


def check_regex(pattern: str, what: str = "regular expression") -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid {what} {shown(pattern)}: {exc.msg}") from None
    except (RecursionError, OverflowError):  # groups nested hundreds deep
        raise ValueError(f"invalid {what} {shown(pattern)}: nested too deeply") from None
    return pattern


DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 5.0


def inherit(
    check: Any, interval: object = DEFAULT_INTERVAL, timeout: object = DEFAULT_TIMEOUT
) -> Any:
    """A check's mapping with what it does not set filled in: ``interval``, and as
    timeout the smaller of ``timeout`` and the check's interval (a 1 s check
    without a timeout of its own gets 1 s, not the default 5 s)."""
    if not isinstance(check, dict):
        return check
    out = {"interval": interval, **check}
    if "timeout" not in out:
        with contextlib.suppress(ValueError):  # the interval's own problem is reported
            out["timeout"] = min(parse_duration(timeout), parse_duration(out["interval"]))
    return out


class CheckBase(Strict):
    name: str = Field(pattern=NAME, max_length=128)
    """Unique check name: letters, digits, '-', '_', '.'."""
    interval: Duration = Field(default=DEFAULT_INTERVAL, gt=0)
    """How often the check runs (default: defaults.interval)."""
    # Unset: the smaller of defaults.timeout (5s) and the interval.
    timeout: Duration = Field(default=DEFAULT_TIMEOUT, gt=0)
    """How long one run may take; must not exceed interval (default: defaults.timeout)."""
    labels: dict[str, str] = {}
    """Free labels, used by rule selectors, maintenance and the status page."""
    description: str = ""
    """Shown on the status page."""
    rules: list[Rule] = []
    """Inline rules that apply to this check only (without match)."""
    replicas: int = Field(default=1, ge=1, le=16)
    """Cluster only (several sentinels on one PostgreSQL): how many members probe this check each interval. 1 (the default) probes it once; 2 or more confirms a failure from several members (a majority must see it down, or `quorum`), so one member's bad network path pages nobody, at the cost of that many probes."""
    locations: list[Annotated[str, Field(pattern=NAME, max_length=64)]] = []
    """Cluster only: probe from one member in each of these locations (members' SENTINEL_LOCATION) in the same time bucket, and count the check down only when `quorum` of them see it down. Replaces `replicas`."""
    quorum: int | None = Field(default=None, ge=1)
    """With `locations` or `replicas` of 2 or more: how many places must see the check down (default: a majority, e.g. 2 of 2, 2 of 3)."""
    quorum_missing: Literal["lower", "hold"] = "lower"
    """When a place has no fresh result for the interval (its member gone, or its location unhealthy): lower (the default) decides among the places that report, shown as unknown; hold keeps the quorum, so the check stays unknown until enough places report."""

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any) -> Any:
        return inherit(data)

    @field_validator("rules")
    @classmethod
    def _inline(cls, rules: list[Rule]) -> list[Rule]:
        for rule in rules:
            if rule.match:
                raise ValueError(
                    f"inline rule {shown(rule.name)} applies to its check: drop 'match'"
                )
        return rules

    @field_validator("locations")
    @classmethod
    def _distinct_locations(cls, locations: list[str]) -> list[str]:
        seen = [loc for i, loc in enumerate(locations) if loc in locations[:i]]
        if seen:
            raise ValueError(f"location {shown(seen[0])} is listed twice")
        return locations

    @field_validator("quorum")
    @classmethod
    def _quorum_fits(cls, quorum: int | None, info: ValidationInfo) -> int | None:
        if quorum is None:
            return quorum
        locations = info.data.get("locations") or []
        places = len(locations) or info.data.get("replicas", 1)
        if quorum > places:
            what = f"{len(locations)} locations" if locations else f"{places} replicas"
            raise ValueError(f"quorum ({quorum}) must not exceed the {what} that probe the check")
        return quorum

    @model_validator(mode="after")
    def _replicas_or_locations(self) -> CheckBase:
        if self.locations and "replicas" in self.model_fields_set:
            raise ValueError(
                "set either locations or replicas, not both: locations probe once from each"
            )
        return self

    @property
    def places(self) -> int:
        """How many places probe the check each interval (1: no quorum)."""
        return len(self.locations) or self.replicas

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not SAMPLE_NAME.fullmatch(key) or key.startswith("__"):
                raise ValueError(f"invalid label name {shown(key)}: use letters, digits and _")
        return labels

    @model_validator(mode="after")
    def _timeout_fits(self) -> CheckBase:
        if self.timeout > self.interval:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must not exceed interval ({self.interval:g}s): "
                "a run would still be going when the next one is due"
            )
        return self


class BasicAuth(Strict):
    username: str
    """User name."""
    password: SecretStr
    """Password."""


class HttpAuth(Strict):
    basic: BasicAuth | None = None
    """Basic authentication."""
    bearer: SecretStr | None = None
    """A bearer token."""

    @model_validator(mode="after")
    def _one(self) -> HttpAuth:
        if (self.basic is None) == (self.bearer is None):
            raise ValueError("auth takes exactly one of basic or bearer")
        return self


class TlsOptions(Strict):
    verify: bool = True
    """Verify the server certificate; false accepts any certificate."""
    ca_file: str | None = None
    """A PEM file of CA certificates to trust instead of the system's."""


class HttpExpect(Strict):
    status: list[Annotated[int, Field(ge=100, le=599)]] | None = None
    """Allowed status codes (default: any from 200 to 399)."""
    json_: dict[str, Any] = Field(default={}, alias="json")
    """JSON path -> expected value, or a list of allowed values."""
    body_matches: str | None = None
    """A regular expression that must match the body."""
    body_not_matches: str | None = None
    """A regular expression that must not match the body."""
    headers: dict[str, str] = {}
    """Header -> regular expression that must match its value."""

    @field_validator("json_")
    @classmethod
    def _paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            check_jsonpath(path)
        return value

    @field_validator("body_matches", "body_not_matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return value if value is None else check_regex(value)

    @field_validator("headers")
    @classmethod
    def _header_regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            check_regex(pattern, f"pattern for header {name}:")
        return value


def check_extract(value: dict[str, str]) -> dict[str, str]:
    for sample, path in value.items():
        if not SAMPLE_NAME.fullmatch(sample):
            raise ValueError(f"invalid sample name {shown(sample)}: use letters, digits and _")
        check_jsonpath(path)
    return value


class HttpCheck(CheckBase):
    type: Literal["http"]
    """The probe: http, postgres, redis, tcp, tls, prometheus or heartbeat."""
    url: str = Field(pattern=r"^https?://")
    """The URL to request: http:// or https://."""
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    """HTTP method."""
    headers: dict[str, str] = {}
    """Request headers."""
    body: str | dict[str, Any] | list[Any] | None = None
    """Request body: a mapping or list is sent as JSON, a string as-is."""
    auth: HttpAuth | None = None
    """basic (username, password) or bearer authentication."""
    follow_redirects: bool = True
    """Follow redirects."""
    max_redirects: int = Field(default=10, ge=0, le=50)
    """The most redirects followed before the check fails."""
    tls: TlsOptions = TlsOptions()
    """Certificate verification options."""
    fresh_connection: bool = False
    """true: a new TCP/TLS connection every run."""
    max_body: Size = 1024 * 1024
    """Larger bodies fail the check."""
    expect: HttpExpect = HttpExpect()
    """What a passing response looks like."""
    extract: dict[str, str] = {}
    """Sample name -> JSON path of a number in the body."""

    _extract = field_validator("extract")(check_extract)
    _url = field_validator("url")(http_url)


class PostgresCheck(CheckBase):
    type: Literal["postgres"]
    """The probe: http, postgres, redis, tcp, tls, prometheus or heartbeat."""
    dsn: SecretStr
    """postgresql:// connection string."""
    queries: dict[str, str] = {}
    """Sample name -> SQL returning one number, or rows of (label, number)."""
    statement_timeout: Duration | None = None
    """Server-side limit on each query."""

    _dsn = field_validator("dsn")(secret_checked(postgres_dsn))


class RedisCheck(CheckBase):
    type: Literal["redis"]
    """The probe: http, postgres, redis, tcp, tls, prometheus or heartbeat."""
    url: SecretStr
    """redis:// or rediss:// URL."""
    keys: list[str] = []
    """Keys whose length (list, stream, sorted set, set) is reported."""

    _url = field_validator("url")(secret_checked(redis_url))


class TcpCheck(CheckBase):
    type: Literal["tcp"]
    """The probe: http, postgres, redis, tcp, tls, prometheus or heartbeat."""
    target: str
    """host:port to connect to."""
    send: str | None = None
    """Text sent after connecting."""
    expect: str | None = None
    """Text the answer must contain."""

    _target = field_validator("target")(host_port)


class TlsCheck(CheckBase):
    type: Literal["tls"]
    """The probe: http, postgres, redis, tcp, tls, prometheus or heartbeat."""
    target: str
    """host:port of the TLS server."""
    server_name: str | None = None
    """SNI and the name the certificate must carry (default: the host)."""
    ca_file: str | None = None
    """A PEM file of CA certificates to trust instead of the system's."""

    _target = field_validator("target")(host_port)

    @field_validator("server_name")
    @classmethod
    def _server_name(cls, value: str | None) -> str | None:
        return value if value is None else host_name(value)


class PrometheusCheck(CheckBase):
    type: Literal["prometheus"]
    """The probe: http, postgres, redis, tcp, tls, prometheus or heartbeat."""
    url: str = Field(pattern=r"^https?://")
    """The /metrics URL to scrape: http:// or https://."""
    metrics: list[str] = []
    """Names or regular expressions of the series to keep."""
    headers: dict[str, str] = {}
    """Request headers."""
    auth: HttpAuth | None = None
    """basic (username, password) or bearer authentication."""
    tls: TlsOptions = TlsOptions()
    """Certificate verification options."""

    _url = field_validator("url")(http_url)

    @field_validator("metrics")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            check_regex(pattern, "pattern")
        return value


class HeartbeatCheck(CheckBase):
    type: Literal["heartbeat"]
    """The probe: http, postgres, redis, tcp, tls, prometheus or heartbeat."""
    every: Duration = Field(gt=0)
    """How often the job is expected to ping /ping/<name>."""
    grace: Duration = 0.0
    """Extra time allowed after every before the check fails."""
    key: SecretStr | None = None
    """A key the ping must carry."""


Check = Annotated[
    HttpCheck | PostgresCheck | RedisCheck | TcpCheck | TlsCheck | PrometheusCheck | HeartbeatCheck,
    Field(discriminator="type"),
]
