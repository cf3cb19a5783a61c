"""What every API payload model shares: the :class:`Answer` base (closed objects, field
descriptions from attribute docstrings), :func:`dumped`, the field types used across
the API (times, labels, samples, severities), errors and the generic :class:`Page`.

The models themselves are by aggregate: :mod:`sentinel.web.models_checks` (checks,
alerts, silences), :mod:`sentinel.web.models_incidents` (incidents, on-call,
maintenance), :mod:`sentinel.web.models_status` (status, health, sources, cluster,
SLOs); :mod:`sentinel.web.models` names them all.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


Labels = dict[str, str]


Samples = Annotated[
    dict[str, float],
    Field(
        description='Sample values by name, with labels as in Prometheus: `key_length{key="q"}`.'
    ),
]


Severity = Literal["critical", "high", "medium", "low"]


CheckState = Literal["up", "down", "pending", "unsupported"]


AlertState = Literal["pending", "firing"]


Count = Annotated[int, Field(ge=0)]


MAX_TEXT = 10_000


Item = TypeVar("Item")


class Answer(BaseModel):
    """A JSON object sentinel writes."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def dumped(model: type[Answer], payload: Any) -> dict[str, Any]:
    """``payload`` in ``model``'s shape, as JSON: checked on the way out, the fields
    with a default left out unless given."""
    shown: dict[str, Any] = model.model_validate(payload).model_dump(
        mode="json", exclude_unset=True
    )
    return shown


def request_problem(exc: ValidationError) -> str:
    """A request body's problem in one line: every unknown field, or the first bad one."""
    errors = exc.errors()
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return f"unknown fields: {', '.join(unknown)}"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "string_type":
        return f"{where} must be text"
    if first["type"] == "string_too_long":
        return f"{where} is longer than {first['ctx']['max_length']} characters"
    return f"{where}: {first['msg']}"


class Error(Answer):
    """Every error under /api/ and /-/."""

    error: Annotated[str, Field(min_length=1)]
    """What is wrong, in one line."""


class Page(Answer, Generic[Item]):
    """A page of a list."""

    items: list[Item]
    total: Count
    limit: Annotated[int, Field(ge=1, le=1000)]
    offset: Count
    next: str | None
    """The next page's URL (same filters), or null on the last page."""
