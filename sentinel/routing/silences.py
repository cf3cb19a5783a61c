"""Silences: an operator's "not now" for alerts whose labels match, until an end time.

A silence is data (matchers, start, end, author, comment); whether it applies
is a pure function of the silence, the alert's labels and the time.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sentinel.config.units import parse_duration

LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: dict[str, str]  # label -> exact value, or ~regex for a whole-value regex
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        for key, want in self.matchers.items():
            got = labels.get(key, "")
            if want.startswith("~"):
                if re.fullmatch(want[1:], got) is None:
                    return False
            elif got != want:
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": self.matchers,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "author": self.author,
            "comment": self.comment,
            "created_at": self.created_at.isoformat(),
        }


def new_id() -> str:
    return "sil-" + secrets.token_hex(6)


def check_matchers(matchers: dict[str, str]) -> None:
    """Refuse a silence that matches everything or holds a broken regex."""
    if not matchers:
        raise ValueError("a silence needs at least one matcher")
    for key, value in matchers.items():
        if value.startswith("~"):
            try:
                re.compile(value[1:])
            except re.error as exc:
                raise ValueError(f"matcher {key}: invalid regex: {exc.msg}") from None
            except (RecursionError, OverflowError):
                raise ValueError(f"matcher {key}: invalid regex: nested too deeply") from None


def silenced_by(
    silences: Sequence[Silence], labels: dict[str, str], now: datetime
) -> Silence | None:
    for silence in silences:
        if silence.active(now) and silence.matches(labels):
            return silence
    return None


def _accepts_empty(want: str) -> bool:
    return re.fullmatch(want[1:], "") is not None if want.startswith("~") else want == ""


def silence_from_request(body: object, now: datetime) -> Silence:
    """A new silence from an API request body (:class:`sentinel.web.models.NewSilence`
    describes it); ValueError with a reason for any bad input. Every check of a new
    silence is here."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    matchers = body.get("matchers")
    if not isinstance(matchers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in matchers.items()
    ):
        raise ValueError("matchers must be an object of label -> value")
    for key in matchers:
        if not LABEL_NAME.fullmatch(key):
            raise ValueError(f"matchers: invalid label name {key!r}")
    check_matchers(matchers)
    if all(_accepts_empty(v) for v in matchers.values()):
        # It would cover every alert without those labels, as {"": ""} would.
        raise ValueError("matchers: at least one must require a non-empty value")
    author, comment = body.get("author"), body.get("comment", "")
    if not isinstance(author, str) or not author.strip():
        raise ValueError("author is required")
    if not isinstance(comment, str):
        raise ValueError("comment must be text")
    try:
        duration = parse_duration(body.get("duration", "1h"))
    except ValueError as exc:
        raise ValueError(f"duration: {exc}") from None
    if duration <= 0:
        raise ValueError("duration must be positive")
    starts = now
    if "starts_at" in body:
        try:
            starts = datetime.fromisoformat(str(body["starts_at"]))
        except ValueError:
            raise ValueError("starts_at must be an ISO 8601 time") from None
        if starts.tzinfo is None:
            raise ValueError("starts_at needs a time zone, e.g. 2026-12-24T09:00:00+00:00")
    try:
        ends = starts + timedelta(seconds=duration)
    except OverflowError:
        raise ValueError("starts_at is too far in the future") from None
    if ends <= now:
        raise ValueError("the silence would already be over")
    return Silence(new_id(), matchers, starts, ends, author, comment, now)
