"""The outbox: every notification is a row written before the first attempt to send it.

A :class:`Delivery` is one notice to one address through one channel. Its
``dedup`` key makes writing it twice harmless (a repeated tick, a restart
replaying a step), and its ``state`` says what is left to do:

    pending  waiting for its turn, or for ``next_at`` after a failed attempt
    held     part of a storm: sent with the others of its address as one digest
    sent     the provider accepted it
    failed   a permanent error (bad token, unknown number); ``fallback`` went on
    dead     still undelivered after ``notifications.max_age``
    merged   sent inside a digest

Rows are never deleted on send: the status page, incidents and reports read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sentinel.notify.base import Notice

State = Literal["pending", "held", "sent", "failed", "dead", "merged"]
OPEN: tuple[State, ...] = ("pending", "held")
Route = tuple[str, str | None]  # (channel name, address or None for the channel's own)


@dataclass(frozen=True, slots=True)
class Delivery:
    dedup: str
    fingerprint: str  # the alert's, or "" for a test or a report
    target: str  # as the policy names it: a channel, a contact, oncall:<schedule>, email:<addr>
    channel: str
    address: str | None
    notice: Notice
    next_at: float
    created_at: float
    fallback: tuple[Route, ...] = ()  # the contact's next methods, tried after a permanent error
    state: State = "pending"
    attempts: int = 0
    sent_at: float | None = None
    error: str | None = None
    ref: dict[str, str] | None = field(default=None, compare=False)
    id: int | None = None

    @property
    def thread_key(self) -> tuple[str, str, str]:
        """Notices about one firing of an alert to one address of one channel form a
        thread: a second outage of the same alert starts a thread of its own."""
        alert = self.notice.alert
        return (alert.firing if alert else self.fingerprint, self.channel, self.address or "")

    def with_(self, **changes: Any) -> Delivery:
        return replace(self, **changes)


def encode_fallback(fallback: tuple[Route, ...]) -> str:
    return json.dumps([list(r) for r in fallback])


def decode_fallback(text: str) -> tuple[Route, ...]:
    return tuple((str(c), None if a is None else str(a)) for c, a in json.loads(text))
