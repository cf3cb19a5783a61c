"""What every source's payload becomes: :class:`Inbound`, one alert's news, and the
parse errors they raise (:class:`Malformed`, answered 400).

Pure: no I/O, no clock. The Alertmanager, Grafana and Events v2 parsers produce
these; :mod:`sentinel.sources.book` decides what each one changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Status = Literal["firing", "resolved", "acknowledge"]
Labels = tuple[tuple[str, str], ...]

MAX_TEXT = 4096  # an annotation is cut here: a notice is not the place for a novel
ZERO_YEAR = 1  # Go's zero time (0001-01-01T00:00:00Z): "not set"


class Malformed(ValueError):
    """The payload is not what the source's type sends; the message says where."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One alert as a sender reports it now."""

    key: str  # the sender's identity of the alert: fingerprint or dedup_key
    status: Status
    labels: Labels  # sorted
    summary: str = ""
    description: str = ""
    runbook: str | None = None
    link: str | None = None  # generatorURL, the Events v2 link: where it was seen
    starts_at: float | None = None  # unix time the sender says the episode began
    ends_at: float | None = None  # unix time it says the episode ended (resolved)


def label_key(labels: Labels) -> str:
    """An identity from the label set when the sender gives none (never from the
    summary: two alerts that share a summary are still two alerts)."""
    text = "\x1f".join(f"{k}={v}" for k, v in labels)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plain(text: str) -> str:
    """The sender's text without NUL characters: PostgreSQL's text cannot hold one, so
    an alert carrying it would be answered 200 and never stored (lost for the other
    replicas, and resolved by its own at the next tick as "gone from the store")."""
    return text.replace("\x00", "") if "\x00" in text else text


def maybe(text: str | None) -> str | None:
    """:func:`plain` of an optional text; None (or empty) stays None."""
    return plain(text) or None if text else None


def clean_labels(labels: dict[str, str]) -> Labels:
    """Sorted labels; names starting with ``__`` are sentinel's (as in Prometheus)."""
    return tuple(
        sorted((plain(k), plain(v)) for k, v in labels.items() if not plain(k).startswith("__"))
    )


def clip(text: str | None) -> str:
    return plain(text or "")[:MAX_TEXT]


def parse_time(text: str | None, where: str) -> float | None:
    """RFC 3339 (nanoseconds allowed; Go's zero time and empty are None) -> unix time."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        at = _nanoseconds(text, where)
    if at.year <= ZERO_YEAR:
        return None
    if at.tzinfo is None:
        raise Malformed(f"{where}: time without a zone")
    return at.timestamp()


def _nanoseconds(text: str, where: str) -> datetime:
    """Python 3.11 reads at most microseconds: cut the rest of the fraction."""
    head, dot, rest = text.partition(".")
    if not dot:
        raise Malformed(f"{where}: not an RFC 3339 time")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    try:
        return datetime.fromisoformat(
            f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}".replace("Z", "+00:00")
        )
    except ValueError:
        raise Malformed(f"{where}: not an RFC 3339 time") from None
