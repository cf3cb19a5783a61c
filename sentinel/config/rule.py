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
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    match: dict[str, str] = {}
    expr: str = Field(min_length=1)

    for_: Duration = Field(default=0.0, alias="for")
    keep_firing_for: Duration = 0.0
    severity: Severity = "high"
    summary: str = ""
    description: str = ""
    runbook: str | None = None
    labels: dict[str, str] = {}
    on_no_data: Literal["keep", "resolve", "fire"] = "keep"
    escalation: str | None = None  # a policy of `escalation.policies`; default: the severity's

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_expr(value)  # raises ExprError (a ValueError) naming the column
        return value
