"""Who is on call: a rotation's shifts, overrides on top, and the next handoffs.

Pure functions of a :class:`~sentinel.config.models.Rotation` and an aware
time; nothing here reads the clock.

Shift ``k`` starts at ``handoff + k * shift`` (``k`` may be negative: the
rotation is periodic, so times before the first handoff count backwards) and
belongs to ``rotation[k % len(rotation)]``.

- A shift of whole days is counted in the **wall-clock time** of the
  rotation's ``timezone``: a weekly Monday 09:00 London handoff stays at 09:00
  local on both sides of a DST change, so the shift that spans the change is
  an hour shorter or longer. A handoff wall time that does not exist (the
  spring-forward gap) is read with the offset in force before the change, as
  :pep:`495` does with ``fold=0``; a repeated one (fall back) means its first
  occurrence.
- Any other shift (``12h``, ``8h``, ``90m``) is counted in absolute seconds,
  so every shift lasts exactly as long; its local start time moves by an hour
  at a DST change.
- Overrides win over the rotation for ``from <= t < until``; when overrides
  overlap, the later one in the list wins. Naive ``handoff``/``from``/``until``
  are local times in ``timezone``.

Times returned are in UTC: aware datetimes sharing one ``ZoneInfo`` compare
and subtract by wall time in Python, which is wrong across a fall-back hour.
Convert with ``astimezone`` only to display them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sentinel.config.models import Override, Rotation

DAY = 86400.0
Reason = Literal["rotation", "override start", "override end"]


@dataclass(frozen=True, slots=True)
class Handoff:
    """From ``at`` (aware, UTC) ``who`` is on call, because of ``reason``."""

    at: datetime
    who: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class _Window:
    """An override as UTC instants."""

    start: datetime
    end: datetime
    who: str


def on_call(rotation: Rotation, at: datetime) -> str:
    """The contact on call at ``at`` (aware): the latest override covering it, else the rotation."""
    t = _utc(at, "at")
    tz = ZoneInfo(rotation.timezone)
    window = _active(_windows(rotation.overrides, tz), t)
    if window is not None:
        return window.who
    return _member(rotation, _shift_index(rotation, tz, t))


def handoffs(rotation: Rotation, at: datetime, count: int = 3) -> list[Handoff]:
    """The next ``count`` changes of who is on call strictly after ``at``, in time order.

    A shift boundary or an override edge that leaves the same person on call
    is not a change. Fewer than ``count`` come back only when nobody else is
    ever on call again (a one-person rotation after its last override).
    """
    t = _utc(at, "at")
    tz = ZoneInfo(rotation.timezone)
    windows = _windows(rotation.overrides, tz)
    edges = sorted({w.start for w in windows} | {w.end for w in windows})
    current = on_call(rotation, t)
    found: list[Handoff] = []
    while len(found) < count:
        # Between two candidates nothing changes. While an override is active
        # only override edges can change who is on call; otherwise the next
        # edge or the next boundary where the rotation moves to someone else.
        candidates = [e for e in edges if e > t][:1]
        if _active(windows, t) is None:
            candidates += _next_change(rotation, tz, t)
        if not candidates:
            break
        t = min(candidates)
        who = on_call(rotation, t)
        if who != current:
            found.append(Handoff(t, who, _reason(windows, t)))
            current = who
    return found


def _reason(windows: list[_Window], t: datetime) -> Reason:
    window = _active(windows, t)
    if window is not None and window.start == t:
        return "override start"
    if any(w.end == t for w in windows):
        return "override end"
    return "rotation"


def _next_change(rotation: Rotation, tz: ZoneInfo, t: datetime) -> list[datetime]:
    """The first shift boundary after ``t`` that hands over to someone else, if any ever does."""
    k = _shift_index(rotation, tz, t)
    for step in range(1, len(rotation.rotation) + 1):
        if _member(rotation, k + step) != _member(rotation, k + step - 1):
            return [_boundary(rotation, tz, k + step)]
    return []


def _member(rotation: Rotation, k: int) -> str:
    return rotation.rotation[k % len(rotation.rotation)]


def _shift_index(rotation: Rotation, tz: ZoneInfo, t: datetime) -> int:
    """The ``k`` with ``boundary(k) <= t < boundary(k + 1)``."""
    step = _step(rotation)
    if _whole_days(rotation):
        wall = t.astimezone(tz).replace(tzinfo=None)
        k = (wall - _handoff_wall(rotation, tz)) // step
    else:
        k = (t - _utc(rotation.handoff, "handoff", tz)) // step
    # The wall-clock estimate can be one off near a DST change; settle it on instants.
    while _boundary(rotation, tz, k) > t:
        k -= 1
    while _boundary(rotation, tz, k + 1) <= t:
        k += 1
    return k


def _boundary(rotation: Rotation, tz: ZoneInfo, k: int) -> datetime:
    """The instant (UTC) shift ``k`` starts."""
    if k == 0:  # exactly the handoff, even one given with the second fold of a repeated hour
        return _utc(rotation.handoff, "handoff", tz)
    if _whole_days(rotation):
        return _utc(_handoff_wall(rotation, tz) + k * _step(rotation), "handoff", tz)
    return _utc(rotation.handoff, "handoff", tz) + k * _step(rotation)


def _whole_days(rotation: Rotation) -> bool:
    return rotation.shift % DAY == 0


def _step(rotation: Rotation) -> timedelta:
    step = timedelta(seconds=rotation.shift)
    if step <= timedelta(0):
        raise ValueError(f"shift of {rotation.shift}s is shorter than a microsecond")
    return step


def _handoff_wall(rotation: Rotation, tz: ZoneInfo) -> datetime:
    """The first handoff as a naive wall-clock time in ``tz``."""
    handoff = rotation.handoff
    return handoff if handoff.tzinfo is None else handoff.astimezone(tz).replace(tzinfo=None)


def _windows(overrides: list[Override], tz: ZoneInfo) -> list[_Window]:
    return [
        _Window(_utc(o.from_, "from", tz), _utc(o.until, "until", tz), o.who) for o in overrides
    ]


def _active(windows: list[_Window], t: datetime) -> _Window | None:
    """The override in force at ``t``: the last in the list that covers it."""
    return next((w for w in reversed(windows) if w.start <= t < w.end), None)


def _utc(value: datetime, name: str, tz: ZoneInfo | None = None) -> datetime:
    """``value`` in UTC; a naive value is wall-clock time in ``tz`` (an error without one)."""
    if value.tzinfo is None or value.utcoffset() is None:
        if tz is None:
            raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)
