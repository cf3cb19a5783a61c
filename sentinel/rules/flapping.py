"""Flap detection as Nagios does it: the weighted share of state changes over the
last 21 results, with a higher threshold to start flapping and a lower one to stop.

Recent changes weigh more (0.8 for the oldest change, 1.2 for the newest), so a
check that settles down stops flapping sooner than one that just started.
"""

from __future__ import annotations

from collections.abc import Sequence

WINDOW = 21
HIGH = 0.5  # start flapping above this share of changes
LOW = 0.25  # stop below this one


def change_share(history: Sequence[bool]) -> float:
    """Weighted share of changes between consecutive states, 0.0 to 1.0."""
    if len(history) < 2:
        return 0.0
    changes = len(history) - 1
    total = 0.0
    for i in range(1, len(history)):
        if history[i] != history[i - 1]:
            total += 0.8 + 0.4 * (i - 1) / max(changes - 1, 1)
    return total / changes


def is_flapping(was: bool, share: float, high: float = HIGH, low: float = LOW) -> bool:
    """Hysteresis: start above ``high``, stop below ``low``, otherwise keep."""
    if was:
        return share >= low
    return share > high
