"""Escalation decisions, as pure functions of the alert's progress and ``now``.

Nothing here reads a clock or does I/O. The daemon keeps one :class:`Progress`
per firing alert, asks :func:`due` what to send at each tick (sleeping until
:func:`next_due` in between), stores the new progress, then sends the
:class:`Page` values it got back. Every decision is data, so the escalation
matrix is a table test and a timeline test steps ``now`` a minute at a time.
The values themselves (:class:`Policy`, :class:`Page`, :class:`Progress`) and
their stored JSON are in :mod:`sentinel.escalation.progress`.

The life of one alert::

    start ──► due: step 0 "firing" ──► later steps "escalation" ──► "repeat" every repeat_every
                 │                                                      │
                 ├── acknowledge ─► "acknowledged" (nothing more until the ack expires or is
                 │                   withdrawn; at expiry step 0 again, "reescalation")
                 ├── pause / resume (suppressed: the clock stops, then continues)
                 └── resolve ─────► "resolved" to everyone told, with the duration

Decisions (docs/escalation.md says the same for users):

- The policy is copied onto the alert when it fires (:func:`start`); a config
  reload never reshuffles an escalation already under way.
- Step delays count from ``base``: the firing time, or the moment an
  acknowledgement expired. Steps are kept sorted by delay.
- ``base + after <= now`` is due: a step exactly on its boundary fires.
- Catch-up: a daemon that was down sends every step it missed, one Page per
  step in order (step 0 as "firing", later ones as "escalation"); with the
  delivery state given (``unsettled``), each step waits until the one before
  it has been delivered or has failed for good.
- Order: no step reaches anyone before the earlier steps' notices have
  settled (sent, merged into a digest, failed for good); a step held up so
  goes out as soon as they have, still timed from ``base``.
  A repeat is sent once, however many periods were missed, and the next one is
  due ``repeat_every`` after it.
- An acknowledgement that expires while the alert still fires clears the ack
  and starts again from step 0 with ``base`` = the expiry time; that step 0
  page is "reescalation", later steps are "escalation" as usual.
- A pause (silence, maintenance, failed dependency) stops the clock: on resume
  the step delays and the repeat timer continue where they stood, so a long
  maintenance never ends in a burst of every step. An acknowledgement expires
  on wall time; one that ran out during the pause re-escalates at the resume.
- "acknowledged" and "resolved" go to everyone told so far; with nobody told
  yet, there is nobody to tell and no page. They do not count as the "last
  page" that repeats are timed from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sentinel.escalation.progress import (
    KINDS,
    Kind,
    Page,
    Policy,
    PolicyStep,
    Progress,
    policy_for,
)

# The values are defined in escalation/progress.py; callers name them through here too.
__all__ = [
    "KINDS",
    "Kind",
    "Page",
    "Policy",
    "PolicyStep",
    "Progress",
    "ack_expires_at",
    "acknowledge",
    "due",
    "escalate_now",
    "mark_notified",
    "next_due",
    "pause",
    "policy_for",
    "resolve",
    "start",
    "unacknowledge",
]


def start(fingerprint: str, policy: Policy, now: float) -> Progress:
    """The progress of an alert that fires at ``now``; nothing is sent until :func:`due`."""
    return Progress(fingerprint=fingerprint, policy=policy, fired_at=now, base=now)


def ack_expires_at(progress: Progress) -> float | None:
    """When the current acknowledgement runs out; None if not acked or it never does."""
    expires_after = progress.policy.ack_expires_after
    if progress.acked_at is None or expires_after is None:
        return None
    return progress.acked_at + expires_after


def mark_notified(progress: Progress, targets: Iterable[str]) -> Progress:
    """Add ``targets`` not told before to ``notified``, keeping the order."""
    notified = tuple(dict.fromkeys((*progress.notified, *targets)))
    if notified == progress.notified:
        return progress
    return replace(progress, notified=notified)


def _expire_ack(progress: Progress, at: float) -> Progress:
    """Clear the ack and start the chain again from step 0, counting from ``at``."""
    return replace(progress, acked_by=None, acked_at=None, base=at, next_step=0)


def _step_kind(progress: Progress, step: int) -> Kind:
    if step > 0:
        return "escalation"
    # Step 0 with people already told can only be the chain starting over.
    return "reescalation" if progress.notified else "firing"


def due(
    progress: Progress, now: float, unsettled: frozenset[int] | None = None
) -> tuple[Progress, list[Page]]:
    """The pages to send at ``now``, and the progress once they are sent.

    Store the returned progress before sending (the pages are then owed, not
    lost, if the process dies); calling again at the same ``now`` returns none.

    ``unsettled`` holds the steps of this escalation whose notices are still on
    their way (queued, retrying, held in a storm digest). A page goes out only
    once every earlier step's notices have been sent or have failed for good, so
    nobody further up the chain hears of an alert before the people below; a step
    that fell due meanwhile goes out as soon as the earlier one settles (delays
    still count from ``base``). A page made in this call is unsettled too, so one
    call then sends at most one step. ``None`` skips the check (every earlier
    notice counts as delivered: pure timelines, ``simulate``).
    """
    p = progress
    steps = p.policy.steps
    if p.resolved or p.paused or not steps:
        return p, []
    if p.acked:
        expiry = ack_expires_at(p)
        if expiry is None or now < expiry:
            return p, []
        p = _expire_ack(p, expiry)

    def waiting(step: int) -> bool:
        return unsettled is not None and any(s < step for s in unsettled)

    pages: list[Page] = []
    while p.next_step < len(steps) and p.base + steps[p.next_step].after <= now:
        i = p.next_step
        if waiting(i):
            break
        pages.append(Page(targets=steps[i].notify, kind=_step_kind(p, i), step=i))
        p = replace(mark_notified(p, steps[i].notify), next_step=i + 1, last_page_at=now)
        if unsettled is not None:
            unsettled = unsettled | {i}

    every = p.policy.repeat_every
    if (
        p.next_step >= len(steps)
        and every is not None
        and p.last_page_at is not None
        and p.last_page_at + every <= now
        and not waiting(len(steps))
    ):
        pages.append(Page(targets=p.notified, kind="repeat", step=len(steps) - 1))
        p = replace(p, repeats=p.repeats + 1, last_page_at=now)
    return p, pages


def next_due(progress: Progress) -> float | None:
    """The earliest ``now`` at which :func:`due` returns a page; None if none is pending."""
    p = progress
    steps = p.policy.steps
    if p.resolved or p.paused or not steps:
        return None
    if p.acked:
        expiry = ack_expires_at(p)
        return None if expiry is None else expiry + steps[0].after
    if p.next_step < len(steps):
        return p.base + steps[p.next_step].after
    if p.policy.repeat_every is not None and p.last_page_at is not None:
        return p.last_page_at + p.policy.repeat_every
    return None


def _last_step(progress: Progress) -> int:
    return max(progress.next_step - 1, 0)


def acknowledge(progress: Progress, by: str, now: float) -> tuple[Progress, list[Page]]:
    """Stop the escalation at once and tell everyone told so far who took it.

    Acking a resolved alert, or one whose ack has not expired, changes nothing.
    """
    p = progress
    if p.resolved:
        return p, []
    expiry = ack_expires_at(p)
    if p.acked and (expiry is None or now < expiry):
        return p, []
    p = replace(p, acked_by=by, acked_at=now)
    if not p.notified:
        return p, []
    return p, [Page(targets=p.notified, kind="acknowledged", step=_last_step(p), acked_by=by)]


def unacknowledge(progress: Progress, now: float) -> Progress:
    """Withdraw the ack: the escalation resumes where it stood.

    ``base`` is kept and steps already sent are not sent again; steps whose
    time passed meanwhile are due at once. ``now`` is unused today; it is there
    so every transition has the same shape.
    """
    del now
    if not progress.acked or progress.resolved:
        return progress
    return replace(progress, acked_by=None, acked_at=None)


def resolve(progress: Progress, now: float) -> tuple[Progress, list[Page]]:
    """The alert stopped firing: tell everyone told so far, with how long it lasted."""
    p = progress
    if p.resolved:
        return p, []
    p = replace(p, resolved_at=now)
    if not p.notified:
        return p, []
    page = Page(
        targets=p.notified,
        kind="resolved",
        step=_last_step(p),
        acked_by=p.acked_by,
        duration=now - p.fired_at,
    )
    return p, [page]


def pause(progress: Progress, paused: bool, now: float) -> Progress:
    """Suppress (``paused=True``) or resume the escalation.

    While paused nothing is due. The pause stops the clock: on resume, ``base``
    and the repeat timer move forward by the time paused, so the chain continues
    where it stood instead of sending every step missed in one burst. An ack
    that expired during the pause clears at the resume and the chain starts
    again from step 0, counting from ``now``. ``now`` is when the pause starts
    or ends.
    """
    p = progress
    if paused == p.paused:
        return p
    if paused:
        return replace(p, paused=True, paused_at=now)
    shift = 0.0 if p.paused_at is None else max(now - p.paused_at, 0.0)
    p = replace(
        p,
        paused=False,
        paused_at=None,
        base=p.base + shift,
        last_page_at=None if p.last_page_at is None else p.last_page_at + shift,
    )
    expiry = ack_expires_at(p)
    if not p.resolved and expiry is not None and expiry <= now:
        # Expired before the pause: as if due() had run then, with the clock
        # stopped since. Expired during it: the chain starts over now.
        p = _expire_ack(p, min(expiry + shift, now))
    return p


def escalate_now(progress: Progress, now: float) -> tuple[Progress, list[Page]]:
    """Someone asked to pass the alert on (a call's keypress "2"): the next step is
    sent at once, and the steps after it keep their spacing from it (``base`` moves
    back so the next step is due ``now``). After the last step: a repeat to everyone
    told so far. Nothing while acknowledged, paused or resolved."""
    p = progress
    steps = p.policy.steps
    if p.resolved or p.paused or p.acked or not steps:
        return p, []
    if p.next_step < len(steps):
        i = p.next_step
        p = replace(p, base=min(p.base, now - steps[i].after))
        page = Page(targets=steps[i].notify, kind=_step_kind(p, i), step=i)
        return replace(mark_notified(p, page.targets), next_step=i + 1, last_page_at=now), [page]
    if not p.notified:
        return p, []
    page = Page(targets=p.notified, kind="repeat", step=len(steps) - 1)
    return replace(p, repeats=p.repeats + 1, last_page_at=now), [page]
