"""Methods that wait for a phone call: ``via: [voice, sms]`` calls first, and texts only
when the call does not get the alert acknowledged.

In a contact's ``via``, the methods listed after ``voice`` are written to the outbox
with the call, in the same transaction, as ``waiting`` rows whose dedup key names
the call's row (:func:`sentinel.notify.outbox.then_key`); methods listed before it go
at once. What becomes of a waiting row is :func:`after_call`, a pure function of
what is known of the call::

    the alert acknowledged or resolved (keypress 1, a Slack button,
    the API, the page) while it waited                         -> drop: never sent
    the call failed: no-answer, busy, failed, canceled, voicemail
    (Twilio's outcome), a permanent error, dead-lettered       -> send now
    the call placed, no outcome yet                            -> wait until placed + window
    the call not placed yet (queued, rate-limited, in retry)   -> wait
    the call's row unknown                                     -> send now (never lose a page)

``window`` is how long a call may ring and then be listened to
(:attr:`sentinel.notify.voice.VoiceNotifier.answer_window`): a call answered but
not acknowledged by its end, or whose outcome never comes back, sends the text
when the window has passed. Every state lives in outbox rows, so a restart in
the middle of a call decides the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sentinel.notify.outbox import Delivery

Action = Literal["wait", "send", "drop"]


@dataclass(frozen=True, slots=True)
class Call:
    """What is known of the call a row waits for."""

    placed_at: float | None = None  # when Twilio accepted the call; None while not placed
    failed: str | None = None  # why it reached nobody (no-answer, busy, auth, dead...)


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    until: float | None = None  # for "wait": when to send unless told otherwise first


def after_call(call: Call | None, settled: bool, now: float, window: float) -> Verdict:
    """The fate of a method waiting for ``call``. ``settled``: the alert was acknowledged
    or resolved meanwhile."""
    if settled:
        return Verdict("drop")
    if call is None or call.failed is not None:
        return Verdict("send")
    if call.placed_at is None:
        return Verdict("wait")
    until = call.placed_at + window
    return Verdict("send") if now >= until else Verdict("wait", until)


def waiting(
    rows: Iterable[Delivery], *, call: str | None = None, firing: str | None = None
) -> list[Delivery]:
    """The waiting rows of ``rows``: those waiting for the row ``call``, or about the
    firing ``firing`` (:attr:`sentinel.notify.base.AlertFacts.firing`)."""
    return [
        d
        for d in rows
        if d.state == "waiting"
        and (call is None or d.waits_for == call)
        and (firing is None or (d.notice.alert is not None and d.notice.alert.firing == firing))
    ]


def wake(rows: list[Delivery], now: float, early: float = 0.0) -> float | None:
    """Waiting rows whose wait is over join the line as pending, in place (in memory
    only: a restart finds them waiting and past due, and does the same); else the
    seconds until the next one's is, or None when none waits."""
    nxt: float | None = None
    for i, d in enumerate(rows):
        if d.state != "waiting":
            continue
        if d.next_at <= now + early:
            rows[i] = d.with_(state="pending")
        else:
            nxt = d.next_at - now if nxt is None else min(nxt, d.next_at - now)
    return nxt
