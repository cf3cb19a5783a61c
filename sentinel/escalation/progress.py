"""The values of an escalation: the policy an alert follows, the pages it sends, and
its progress; how they are stored (JSON, every field checked on the way back).

The decisions over them (what is due now, an acknowledgement, a pause) are
:mod:`sentinel.escalation.policy`'s; this module only says what the values are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from sentinel.config.models import Escalation, Step

Kind = Literal["firing", "escalation", "reescalation", "repeat", "acknowledged", "resolved"]
KINDS: tuple[Kind, ...] = get_args(Kind)
T = TypeVar("T")


def _unique(targets: Iterable[str]) -> tuple[str, ...]:
    """``targets`` in first-seen order, each once."""
    return tuple(dict.fromkeys(targets))


@dataclass(frozen=True, slots=True)
class PolicyStep:
    """Tell ``notify`` once ``after`` seconds have passed since the base time."""

    after: float
    notify: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """The escalation chain an alert follows, copied onto it when it fires."""

    name: str
    steps: tuple[PolicyStep, ...]
    repeat_every: float | None = None
    ack_expires_after: float | None = None

    def __post_init__(self) -> None:
        delays = [s.after for s in self.steps]
        if any(d < 0 for d in delays) or delays != sorted(delays):
            raise ValueError(f"policy {self.name!r}: step delays must be >= 0 and in order")
        if self.repeat_every is not None and self.repeat_every <= 0:
            raise ValueError(f"policy {self.name!r}: repeat_every must be positive")
        if self.ack_expires_after is not None and self.ack_expires_after < 0:
            raise ValueError(f"policy {self.name!r}: ack_expires_after must not be negative")

    @classmethod
    def from_steps(
        cls,
        name: str,
        steps: Sequence[Step],
        repeat_every: float | None = None,
        ack_expires_after: float | None = None,
    ) -> Policy:
        """A policy from config steps, sorted by delay (stable), targets de-duplicated per step."""
        ordered = sorted(steps, key=lambda s: s.after)
        return cls(
            name=name,
            steps=tuple(PolicyStep(after=s.after, notify=_unique(s.notify)) for s in ordered),
            repeat_every=repeat_every,
            ack_expires_after=ack_expires_after,
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One decision: tell these targets now.

    ``targets`` are as written in the config: a channel, a contact,
    ``oncall:<rotation>`` or ``email:<address>``; the sender resolves them.
    ``step`` is the step sent (firing, escalation, reescalation) or the last
    step reached (repeat, acknowledged, resolved).
    """

    targets: tuple[str, ...]
    kind: Kind
    step: int
    acked_by: str | None = None
    duration: float | None = None

    def to_json(self) -> dict[str, Any]:
        return _dump(_PAGE, self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Page:
        return _load(_PAGE, "page", data)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far one alert's escalation has gone; stored after every change."""

    fingerprint: str
    policy: Policy
    fired_at: float
    base: float  # step delays count from here: fired_at, or when an ack expired
    next_step: int = 0
    repeats: int = 0  # repeat pages sent over the alert's life
    last_page_at: float | None = None  # the last firing/escalation/reescalation/repeat page
    acked_by: str | None = None
    acked_at: float | None = None
    resolved_at: float | None = None
    notified: tuple[str, ...] = ()  # every target told so far, in order, once each
    paused: bool = False  # suppressed: no pages, and the clock stands still
    paused_at: float | None = None

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None

    def to_json(self) -> dict[str, Any]:
        return _dump(_PROGRESS, self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Progress:
        """Read what :meth:`to_json` wrote; optional keys may be missing (older rows)."""
        return _load(_PROGRESS, "progress", data)


def _older_row(data: Any) -> Any:
    """A row from before ``base`` was stored: it counted from ``fired_at``."""
    if isinstance(data, Mapping) and "base" not in data and "fired_at" in data:
        return {**data, "base": data["fired_at"]}
    return data


# Stored escalations and pages: dataclasses to JSON and back, every field checked.
_PAGE = TypeAdapter(Page)
_PROGRESS = TypeAdapter(Annotated[Progress, BeforeValidator(_older_row)])


def _dump(adapter: TypeAdapter[Any], value: object) -> dict[str, Any]:
    dumped: dict[str, Any] = adapter.dump_python(value, mode="json")
    return dumped


def _load(adapter: TypeAdapter[T], what: str, data: Mapping[str, Any]) -> T:
    """``data`` read back; ValueError naming the first bad field, on one line."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"stored {what} {where}: {first['msg']}") from None


def policy_for(escalation: Escalation, severity: str, named: str | None = None) -> Policy:
    """The policy an alert follows: the rule's named policy if any, else its severity's.

    ``repeat_every`` and ``ack_expires_after`` come from the ``escalation:``
    section either way. Raises KeyError for an unknown name or severity (the
    config loader checks references, so this means a bug).
    """
    if named is not None:
        if named not in escalation.policies:
            raise KeyError(f"unknown escalation policy {named!r}")
        steps, name = escalation.policies[named], named
    elif severity in ("critical", "high", "medium", "low"):
        steps, name = getattr(escalation, severity), severity
    else:
        raise KeyError(f"unknown severity {severity!r}")
    return Policy.from_steps(name, steps, escalation.repeat_every, escalation.ack_expires_after)
