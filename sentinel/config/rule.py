"""One alerting rule: a condition over a check's samples, with its timing and severity.

Rules live in the top-level ``rules:`` list (selecting checks with ``match``)
or inline under a check's own ``rules:`` (no ``match``: they apply to it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel.config.units import Duration
from sentinel.rules.expr import parse as parse_expr

Severity = Literal["critical", "high", "medium", "low"]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Alert name: letters, digits and '_', not starting with a digit."""
    match: dict[str, str] = {}
    """Selector: check (a name glob), type, or a label that must be equal."""
    expr: str = Field(min_length=1)
    """The condition, e.g. up == 0 or p95(duration_seconds[5m]) > 2s."""

    for_: Duration = Field(default=0.0, alias="for")
    """How long the condition must hold before the alert fires."""
    keep_firing_for: Duration = 0.0
    """How long the alert keeps firing after the condition clears."""
    severity: Severity = "high"
    """critical, high, medium or low: picks the escalation policy."""
    summary: str = ""
    """Jinja template of the one-line summary."""
    description: str = ""
    """Jinja template of the longer description."""
    runbook: str | None = None
    """A link to the runbook."""
    labels: dict[str, str] = {}
    """Labels added to the alert."""
    on_no_data: Literal["keep", "resolve", "fire"] = "keep"
    """When the check reports no sample: keep the state, resolve, or fire."""
    escalation: str | None = None  # a policy of `escalation.policies`; default: the severity's
    """A named policy of escalation.policies instead of the severity's."""

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_expr(value)  # raises ExprError (a ValueError) naming the column
        return value
