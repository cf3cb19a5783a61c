"""The outbox: every notification is a row written before the first attempt to send it.

A :class:`Delivery` is one notice to one address through one channel. Its
``dedup`` key makes writing it twice harmless (a repeated tick, a restart
replaying a step), and its ``state`` says what is left to do:

    pending  waiting for its turn, or for ``next_at`` after a failed attempt
    held     part of a storm: sent with the others of its address as one digest
    waiting  a contact's method listed after ``voice``: goes when the call fails, or at
             ``next_at`` (:mod:`sentinel.notify.waiting`); its dedup key names the call's row
    sent     the provider accepted it
    failed   a permanent error (bad token, unknown number); ``fallback`` went on
    dead     still undelivered after ``notifications.max_age``
    merged   sent inside a digest
    skipped  waited for a call, and the alert was acknowledged (or resolved) first

Rows are never deleted on send: the status page, incidents and reports read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sentinel.notify.base import Notice

State = Literal["pending", "held", "waiting", "sent", "failed", "dead", "merged", "skipped"]
OPEN: tuple[State, ...] = ("pending", "held", "waiting")
THEN = "|then:"  # in a waiting row's dedup key: <the call's row's key>|then:<channel>:<address>
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

    @property
    def waits_for(self) -> str | None:
        """The dedup key of the call this row waits for, if it is a waiting row's."""
        leader, sep, _ = self.dedup.rpartition(THEN)
        return leader if sep else None

    def with_(self, **changes: Any) -> Delivery:
        return replace(self, **changes)


def then_key(leader: str, route: Route) -> str:
    """The dedup key of a row that waits for the row ``leader`` (a phone call)."""
    channel, address = route
    return f"{leader}{THEN}{channel}:{address}"


def encode_fallback(fallback: tuple[Route, ...]) -> str:
    return json.dumps([list(r) for r in fallback])


def decode_fallback(text: str) -> tuple[Route, ...]:
    return tuple((str(c), None if a is None else str(a)) for c, a in json.loads(text))
