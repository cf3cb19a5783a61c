"""Service level objectives: which checks, what share of their runs must be good, over
what window, and the burn-rate alert pairs that page before the error budget is gone.

The default pairs are the Google SRE workbook's multi-window, multi-burn-rate alerts
(docs/slos.md): a pair fires while the burn rate over both its long and its short
window is at least ``factor``; the short window makes it resolve soon after a recovery.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sentinel.config.checks import NAME, Strict
from sentinel.config.cron import check_timezone
from sentinel.config.quote import shown
from sentinel.config.rule import Severity
from sentinel.config.units import Duration, format_duration, parse_duration

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
MONTH_SPAN = 31 * DAY  # the longest calendar month: what a `window: month` reads at most
ALERT_PREFIX = "SLO:"


def alert_rule(slo: str, pair: str) -> str:
    """The rule name of an SLO's alert pair: ``SLO:<slo>:<pair>``."""
    return f"{ALERT_PREFIX}{slo}:{pair}"


class BurnAlert(Strict):
    """One alert pair: fires when the burn rate over ``long`` and over ``short`` are
    both at least ``factor`` (1x spends the budget exactly over the SLO's window); once
    firing, it resolves when ``long`` drops below ``factor`` or ``short`` below
    ``factor x hysteresis``."""

    factor: float = Field(gt=0)
    long: Duration = Field(ge=MINUTE)
    short: Duration = Field(ge=MINUTE)
    severity: Severity
    for_: Duration = Field(default=0.0, alias="for", ge=0)
    hysteresis: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _short_within_long(self) -> BurnAlert:
        if self.short > self.long:
            raise ValueError("short must not be longer than long")
        return self


class BurnAlertOverride(Strict):
    """Any field of a pair; unset fields keep the default pair's (a new pair needs all)."""

    factor: float | None = Field(default=None, gt=0)
    """Burn rate both windows must reach (1 spends the budget over the window)."""
    long: Duration | None = Field(default=None, ge=MINUTE)
    """The long window (e.g. 1h)."""
    short: Duration | None = Field(default=None, ge=MINUTE)
    """The short window (e.g. 5m): the alert resolves soon after it clears."""
    severity: Severity | None = None
    """critical, high, medium or low: picks the escalation policy."""
    for_: Duration | None = Field(default=None, alias="for", ge=0)
    """How long the condition must hold before the alert fires."""
    hysteresis: float | None = Field(default=None, gt=0, le=1)
    """Once firing, the pair resolves when its long window drops below factor or its short window below factor x hysteresis (default 0.5: a short window of few runs does not flap on a steady burn; 1: resolve as soon as either window is below factor, as Sloth and Pyrra)."""


_NO_LABELS: dict[str, str] = {}  # shared by every SLO without labels: never written
_NO_OVERRIDES: dict[str, BurnAlertOverride | None] = {}  # likewise, without overrides
_PAIR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

DEFAULT_ALERTS: dict[str, BurnAlert] = {
    "page-fast": BurnAlert(factor=14.4, long=HOUR, short=5 * MINUTE, severity="critical"),
    "page-slow": BurnAlert(factor=6.0, long=6 * HOUR, short=30 * MINUTE, severity="critical"),
    "ticket": BurnAlert(factor=1.0, long=3 * DAY, short=6 * HOUR, severity="low"),
}


def _objective(value: object) -> float:
    """``99.9%`` (or the number 99.9) -> 99.9; a ratio such as 0.999 is refused."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str):
        try:
            number = float(text.removesuffix("%"))
        except ValueError:
            raise ValueError(
                f"objective {shown(text)} must be a percentage such as 99.9%"
            ) from None
    elif isinstance(text, int | float) and not isinstance(text, bool):
        number = float(text)
    else:
        raise ValueError("objective must be a percentage such as 99.9%")
    if not 1.0 <= number < 100.0:
        hint = " (a ratio? write it as a percentage, 99.9%)" if 0 < number < 1 else ""
        raise ValueError(f"objective {number:g}% must be at least 1% and below 100%{hint}")
    return number


_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
_SELECTOR_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*(?:,|$)')


def parse_selector(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``name{label="v",...}`` -> (name, labels a sample must have); ValueError if not one."""
    m = _SELECTOR.fullmatch(text)
    if m is None:
        raise ValueError(
            f'{shown(text)} is not a sample selector such as errors_total{{code="5xx"}}'
        )
    labels: list[tuple[str, str]] = []
    rest = (m.group(2) or "").strip()
    while rest:
        lm = _SELECTOR_LABEL.match(rest)
        if lm is None:
            raise ValueError(f'{shown(text)}: labels are written {{name="value", ...}}')
        labels.append((lm.group(1), lm.group(2)))
        rest = rest[lm.end() :].strip()
    return m.group(1), tuple(sorted(labels))


def _selector(value: str) -> str:
    parse_selector(value)
    return value.strip()


class RatioIndicator(Strict):
    """An indicator read from a check's samples: two counters, bad (or good) events and
    all events; each run adds their increase since the previous run (a counter that went
    down was reset: its new value is the increase, as Prometheus's rate() reads it)."""

    total: str
    """Sample selector of the counter of all events, e.g. http_requests_total."""
    bad: str | None = None
    """Sample selector of the counter of bad events, e.g. http_requests_total{code=\"5xx\"}."""
    good: str | None = None
    """Sample selector of the counter of good events (instead of bad)."""

    _selectors = field_validator("total", "bad", "good")(
        lambda v: None if v is None else _selector(v)
    )

    @model_validator(mode="after")
    def _one_of(self) -> RatioIndicator:
        if (self.bad is None) == (self.good is None):
            raise ValueError("a ratio needs total and exactly one of bad or good")
        return self


def _window(value: object) -> float | str:
    """``month`` (the calendar month), or a rolling window's duration from 1h to 90d."""
    if isinstance(value, str) and value.strip().lower() == "month":
        return "month"
    seconds = parse_duration(value)
    if not HOUR <= seconds <= 90 * DAY:
        raise ValueError("window must be month or a duration from 1h to 90d, e.g. 30d")
    return seconds


Window = Annotated[
    float | Literal["month"],
    BeforeValidator(_window),
    PlainSerializer(lambda v: v if isinstance(v, str) else format_duration(v), when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"const": "month", "description": "the calendar month (see timezone)"},
                # the schema generator's marker for its shared Duration definition
                {"x-sentinel-kind": "Duration", "minimum": HOUR, "maximum": 90 * DAY},
            ]
        }
    ),
]


class Slo(Strict):
    name: str = Field(pattern=NAME)
    """SLO name; its alerts are SLO:<name>:<pair>."""
    match: dict[str, str] = Field(min_length=1)  # like a rule's: check glob, type, labels
    """Selector of the checks it covers: check (a name glob), type, or labels."""
    objective: Annotated[
        float,
        BeforeValidator(_objective),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "pattern": r"^\s*\d+(\.\d+)?%\s*$"},
                    {"type": "number", "minimum": 1, "exclusiveMaximum": 100},
                ]
            }
        ),
    ]  # percent of good runs, e.g. 99.9
    """Share of runs that must be good over the window, e.g. 99.9%."""
    window: Window = Field(default="30d", validate_default=True)
    """Window of the objective and the error budget: rolling (default 30d, 1h to 90d) or
    month (the current calendar month in `timezone`)."""
    timezone: str = "UTC"
    """window: month: the IANA time zone whose calendar months count (default UTC)."""
    indicator: Literal["availability", "latency", "ratio"] = "availability"
    """availability (ok runs / all runs), latency (ok runs faster than threshold / all) or
    ratio (bad or good events / all events, from two counters among the check's samples)."""
    threshold: Duration | None = Field(default=None, gt=0)  # latency: a good run is faster
    """latency: a good run finishes faster than this, e.g. 1s."""
    samples: RatioIndicator | None = None
    """indicator: ratio: the counters among the check's samples of all events and of the
    bad (or good) ones."""
    maintenance: Literal["count", "exclude"] = "count"
    """count (default): runs during maintenance count like any; exclude: runs of a check
    inside one of its maintenance windows are left out of the budget (neither good nor bad)."""
    description: str = ""
    """What the objective promises, shown with its alerts."""
    labels: dict[str, str] = {}
    """Labels added to its alerts."""
    escalation: str | None = None  # a policy of `escalation.policies`; default: the severity's
    """A named policy of escalation.policies instead of the severity's."""
    alerts: dict[str, BurnAlertOverride | None] = {}  # null turns a default pair off
    """Burn-rate alert pairs by name: overrides of page-fast, page-slow, ticket (null turns one off), or new ones."""
    inhibition_hold: bool = True
    """An alert of this SLO inhibited (inhibit:) by an alert on one of its checks stays inhibited while that alert is pending and for the pair's short window (plus a minute) after it resolves, while the window still holds the failures it covered; false: the inhibition starts and ends with the source alert's firing (Alertmanager's)."""

    _zone = field_validator("timezone")(check_timezone)

    @model_validator(mode="after")
    def _consistent(self) -> Slo:
        if self.indicator == "latency" and self.threshold is None:
            raise ValueError("a latency SLO needs threshold (e.g. threshold: 1s)")
        if self.indicator != "latency" and self.threshold is not None:
            raise ValueError("threshold applies to indicator: latency only")
        if self.indicator == "ratio" and self.samples is None:
            raise ValueError("a ratio SLO needs samples: {total: ..., bad: ...} (or good:)")
        if self.indicator != "ratio" and self.samples is not None:
            raise ValueError("samples applies to indicator: ratio only")
        if self.window != "month" and self.timezone != "UTC":
            raise ValueError("timezone applies to window: month only")
        for name in self.alerts:
            if not _PAIR_NAME.fullmatch(name):
                raise ValueError(f"invalid alert name {shown(name)}: use letters, digits, '-', '_'")
        self.burn_alerts()  # a new pair missing a field is refused here
        # Most SLOs set no labels and no pair overrides: they share one empty dict each
        # instead of a copy apiece (128 bytes an SLO; config models are never changed
        # after loading, and these two are only read).
        if not self.labels:
            self.__dict__["labels"] = _NO_LABELS
        if not self.alerts:
            self.__dict__["alerts"] = _NO_OVERRIDES
        return self

    @property
    def ratio(self) -> float:
        return self.objective / 100.0

    def burn_alerts(self) -> dict[str, BurnAlert]:
        """The default pairs with this SLO's overrides applied (None removes one)."""
        out = dict(DEFAULT_ALERTS)
        for name, override in self.alerts.items():
            if override is None:
                out.pop(name, None)
                continue
            base = out.get(name)
            given = override.model_dump(exclude_none=True)
            if base is None:
                missing = [f for f in ("factor", "long", "short", "severity") if f not in given]
                if missing:
                    raise ValueError(f"alert {shown(name)} is new: it needs {', '.join(missing)}")
                out[name] = BurnAlert.model_validate(given)
            else:
                out[name] = BurnAlert.model_validate({**base.model_dump(), **given})
        return out

    @property
    def span(self) -> float:
        """The budget window's length at most: a rolling window's, or 31 days for a month."""
        return MONTH_SPAN if self.window == "month" else self.window

    def longest(self) -> float:
        """The longest span any of its windows reads (the budget window or an alert's)."""
        return max([self.span, *(a.long for a in self.burn_alerts().values())])
