"""What every notifier shares: the Notice it is given, what it answers, how it fails.

A :class:`Notice` is the facts of one notification (JSON-safe, so the outbox
can keep it); each notifier renders it for its medium with the templates of
:mod:`sentinel.notify.render`. ``send`` returns :class:`Sent` or raises
:class:`DeliveryError`, which says whether to retry::

    DeliveryError(retry=True,  reason="rate_limited", retry_after=3.0)   # 429, 5xx, network
    DeliveryError(retry=False, reason="auth")                            # bad token: channel broken

``reason`` is a short fixed word (it becomes a metric label); ``detail`` is
a sentence for the log, and never holds a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Kind = Literal[
    "firing",  # the first notice of an alert to this target
    "escalation",  # a later step of the policy reached this target
    "repeat",  # still firing and unacknowledged after the last step (repeat_every)
    "acknowledged",  # someone acknowledged: told to everyone already notified
    "resolved",  # the alert resolved: told to everyone already notified
    "flapping",  # one notice instead of a stream while the alert flaps
    "digest",  # many alerts for one target in a storm, in one message
    "test",  # `sentinel notify-test`
    "report",  # a scheduled report's summary (reports:), no alert
    "update",  # an incident status update: told to everyone already notified (issue 20)
    "reminder",  # an incident without a status update for a while: to the person handling it
]


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """One alert as a notification tells it."""

    fingerprint: str  # stable id; PagerDuty's dedup_key
    rule: str
    check: str
    severity: str  # critical | high | medium | low
    summary: str = ""  # the rule's summary (one line)
    description: str = ""
    value: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # the check's last failure reason, e.g. "connection refused"
    since: float | None = None  # unix time the alert fired
    runbook: str | None = None
    ack_url: str | None = None  # signed link that acknowledges from a phone
    ack_ref: str = ""  # short reference, e.g. "a1b2c3" (first characters of the fingerprint)
    oncall: str | None = None  # who is on call now (the on-call lead)

    @property
    def firing(self) -> str:
        """This firing of the alert (one outage, one escalation): the fingerprint and
        the moment it fired. Who was told, Slack threads and ack links belong to it."""
        return firing_id(self.fingerprint, self.since)


def firing_id(fingerprint: str, since: float | None) -> str:
    """``fingerprint@<fired at, epoch milliseconds>``; the bare fingerprint when the
    firing time is unknown (notices written before firings had an identity)."""
    return fingerprint if since is None else f"{fingerprint}@{round(since * 1000)}"


@dataclass(frozen=True, slots=True)
class Folded:
    """One notice inside a digest: what happened to which alert, and when."""

    kind: Kind  # firing, escalation, repeat, flapping, acknowledged or resolved
    at: float
    alert: AlertFacts
    step: int = 0
    acked_by: str | None = None
    duration: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Folded:
        return cls(
            kind=data["kind"],
            at=data["at"],
            alert=AlertFacts(**data["alert"]),
            step=data.get("step", 0),
            acked_by=data.get("acked_by"),
            duration=data.get("duration"),
        )


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """An incident status update as the runbooks shape it: Status, Progress (``text``),
    Next steps, ETA (unix time, or None)."""

    incident: str  # INC-...
    status: str  # investigating | identified | monitoring | resolved
    text: str
    next_steps: str = ""
    eta: float | None = None
    by: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    kind: Kind
    at: float  # unix time of the event
    alert: AlertFacts | None = None  # None for "test"
    step: int = 0  # escalation step (0-based) that sent it
    acked_by: str | None = None  # for "acknowledged"
    duration: float | None = None  # for "resolved": seconds from firing to resolution
    alerts: tuple[AlertFacts, ...] = ()  # for "digest": the distinct alerts, latest facts
    text: str = ""  # free text (test message, a note)
    entries: tuple[Folded, ...] = ()  # for "digest": every notice folded in, oldest first
    update: StatusUpdate | None = None  # for "update"
    root_cause: str = ""  # for "resolved": from the incident's write-up, when it has one
    reply: str = ""  # for a texted page: the recipient's reply code ("4" of "Reply ACK 4")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notice:
        alert = data.get("alert")
        return cls(
            kind=data["kind"],
            at=data["at"],
            alert=AlertFacts(**alert) if alert else None,
            step=data.get("step", 0),
            acked_by=data.get("acked_by"),
            duration=data.get("duration"),
            alerts=tuple(AlertFacts(**a) for a in data.get("alerts", ())),
            text=data.get("text", ""),
            entries=tuple(Folded.from_json(e) for e in data.get("entries", ())),
            update=StatusUpdate(**data["update"]) if data.get("update") else None,
            root_cause=data.get("root_cause", ""),
            reply=data.get("reply", ""),
        )


@dataclass(frozen=True, slots=True)
class Sent:
    """A delivery the provider accepted. ``ref`` identifies the message where the
    provider lets later notices refer to it (Slack: ``{"channel": ..., "ts": ...}``)."""

    ref: dict[str, str] | None = None


class DeliveryError(Exception):
    def __init__(
        self,
        *,
        retry: bool,
        reason: str,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.retry = retry
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after  # seconds to wait, from Retry-After / X-RateLimit-Reset


class Notifier(Protocol):
    """One configured channel. ``address`` is the recipient when the target names one
    (an email address, an E.164 number, a Slack channel or @user), else None for the
    channel's own. ``thread`` is the ``Sent.ref`` of the first message this channel
    delivered for the same firing of the alert (:attr:`AlertFacts.firing`) and
    address, when there was one."""

    min_interval: float  # seconds between two sends (the provider's rate limit)
    digest: bool  # True when many alerts to one address may be combined in a storm

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent: ...

    async def close(self) -> None: ...
