"""The alert state machine, as a pure function of (previous state, condition, time).

    inactive -> pending   the condition holds (fires at once when ``for`` is 0)
    pending  -> firing    it has held for ``for``
    pending  -> inactive  it stopped holding first
    firing   -> resolved  it stopped holding, and ``keep_firing_for`` has passed since then

Missing data is decided by the rule's ``on_no_data``: ``keep`` (default) keeps
the previous truth, ``resolve`` counts as not holding, ``fire`` as holding.
Prometheus resolves an alert whose series vanish; sentinel keeps it by
default, because a probe that stops answering is not a recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol, TypeVar

State = Literal["inactive", "pending", "firing"]
Event = Literal["pending", "firing", "resolved", "cleared", "flapping", "settled"]
NoData = Literal["keep", "resolve", "fire"]


@dataclass(frozen=True, slots=True)
class AlertState:
    state: State = "inactive"
    active_since: float | None = None  # when the condition began to hold (pending)
    fired_at: float | None = None
    last_true: float | None = None  # the last evaluation where it held
    keep_firing_since: float | None = None  # first evaluation after it stopped holding


def step(
    prev: AlertState,
    holds: bool | None,
    now: float,
    for_: float,
    keep_firing_for: float = 0.0,
    on_no_data: NoData = "keep",
) -> tuple[AlertState, Event | None]:
    """The next state and the event to announce, if any. ``holds`` is None for no data."""
    if holds is None:
        holds = {"keep": prev.state != "inactive", "resolve": False, "fire": True}[on_no_data]
    if holds:
        if prev.state == "inactive":
            started = replace(prev, state="pending", active_since=now, last_true=now, fired_at=None)
            if for_ <= 0:
                return replace(started, state="firing", fired_at=now), "firing"
            return started, "pending"
        current = replace(prev, last_true=now, keep_firing_since=None)
        since = prev.active_since if prev.active_since is not None else now
        if prev.state == "pending" and now - since >= for_:
            return replace(current, state="firing", fired_at=now), "firing"
        return current, None
    if prev.state == "firing":
        # As Prometheus: keep firing for ``keep_firing_for`` from the first evaluation
        # at which the condition no longer held.
        since = prev.keep_firing_since if prev.keep_firing_since is not None else now
        if keep_firing_for > 0 and now - since < keep_firing_for:
            return replace(prev, keep_firing_since=since), None
        return AlertState(), "resolved"
    if prev.state == "pending":
        return AlertState(), "cleared"
    return prev, None


class Stepped(Protocol):
    """What :func:`advance` steps: an alert instance, holding its state."""

    state: AlertState


S = TypeVar("S", bound=Stepped)


def advance(
    instances: dict[str, S], key: str, inst: S, to: tuple[AlertState, Event | None]
) -> Event | None:
    """Move ``inst`` to a :func:`step` of its state (``to``) and keep it in ``instances``
    under ``key`` while it is pending or firing (dropped once inactive); returns the
    event to announce, if any. The rule engine, the SLO engine and the probe
    locations' health step theirs so."""
    inst.state, event = to
    if inst.state.state == "inactive":
        instances.pop(key, None)
    else:
        instances[key] = inst
    return event
