"""Service level objectives: which checks, what share of their runs must be good, over
what window, and the burn-rate alert pairs that page before the error budget is gone.

The default pairs are the Google SRE workbook's multi-window, multi-burn-rate alerts
(docs/slos.md): a pair fires while the burn rate over both its long and its short
window is at least ``factor``; the short window makes it resolve soon after a recovery.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from sentinel.config.checks import NAME, Strict
from sentinel.config.quote import shown
from sentinel.config.rule import Severity
from sentinel.config.units import Duration

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


class BurnAlert(Strict):
    """One alert pair: fires while the burn rate over ``long`` and over ``short`` are
    both at least ``factor`` (1x spends the budget exactly over the SLO's window)."""

    factor: float = Field(gt=0)
    long: Duration = Field(ge=MINUTE)
    short: Duration = Field(ge=MINUTE)
    severity: Severity
    for_: Duration = Field(default=0.0, alias="for", ge=0)

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
    window: Duration = Field(default=30 * DAY, ge=HOUR, le=90 * DAY)
    """Rolling window of the objective and the error budget (default 30d)."""
    indicator: Literal["availability", "latency"] = "availability"
    """availability (ok runs / all runs) or latency (ok runs faster than threshold / all)."""
    threshold: Duration | None = Field(default=None, gt=0)  # latency: a good run is faster
    """latency: a good run finishes faster than this, e.g. 1s."""
    description: str = ""
    """What the objective promises, shown with its alerts."""
    labels: dict[str, str] = {}
    """Labels added to its alerts."""
    escalation: str | None = None  # a policy of `escalation.policies`; default: the severity's
    """A named policy of escalation.policies instead of the severity's."""
    alerts: dict[str, BurnAlertOverride | None] = {}  # null turns a default pair off
    """Burn-rate alert pairs by name: overrides of page-fast, page-slow, ticket (null turns one off), or new ones."""

    @model_validator(mode="after")
    def _consistent(self) -> Slo:
        if self.indicator == "latency" and self.threshold is None:
            raise ValueError("a latency SLO needs threshold (e.g. threshold: 1s)")
        if self.indicator == "availability" and self.threshold is not None:
            raise ValueError("threshold applies to indicator: latency only")
        for name in self.alerts:
            if not _PAIR_NAME.fullmatch(name):
                raise ValueError(f"invalid alert name {shown(name)}: use letters, digits, '-', '_'")
        self.burn_alerts()  # a new pair missing a field is refused here
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

    def longest(self) -> float:
        """The longest span any of its windows reads (the budget window or an alert's)."""
        return max([self.window, *(a.long for a in self.burn_alerts().values())])
