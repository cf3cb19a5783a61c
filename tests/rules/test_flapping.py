"""Flap detection: weighted change share with hysteresis, and one notice instead of a stream."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sentinel.clock import FakeClock
from sentinel.config import parse_config
from sentinel.probes.results import Result, Sample
from sentinel.rules.engine import RuleEngine
from sentinel.rules.flapping import change_share, is_flapping


def test_change_share_weights_recent_changes_more() -> None:
    """No change is 0; every result changing is 1; a recent change counts more than an old one."""
    assert change_share([True] * 21) == 0.0
    assert math.isclose(change_share([i % 2 == 0 for i in range(21)]), 1.0)
    old = [True, False] + [False] * 19
    recent = [True] * 20 + [False]
    assert change_share(recent) > change_share(old)


def test_hysteresis() -> None:
    """Start above the high threshold, stop only below the low one."""
    assert not is_flapping(False, 0.5)
    assert is_flapping(False, 0.51)
    assert is_flapping(True, 0.3)
    assert not is_flapping(True, 0.2)


async def test_a_flapping_check_gives_one_notice_then_settles() -> None:
    """A check bouncing up and down: one 'flapping' event; 'settled' once it stays down."""
    clock = FakeClock(start=datetime(2026, 3, 1, tzinfo=UTC))
    engine = RuleEngine()
    engine.configure(
        parse_config(
            "checks:\n  - {name: api, type: tcp, target: 'h:1'}\n"
            "rules:\n  - {name: Down, match: {check: api}, expr: up == 0}\n",
            "t.yaml",
            {},
        )
    )
    events: list[str] = []
    pattern = [i % 2 == 0 for i in range(20)] + [False] * 30
    for ok in pattern:
        result = Result(
            "api", "tcp", ok, clock.now(), 0.01, None, (Sample("up", 1.0 if ok else 0.0),)
        )
        events += [t.event for t in engine.observe(result, clock.now())]
        await clock.advance(30)
    assert events.count("flapping") == 1
    assert events.count("settled") == 1
    assert events.index("flapping") < events.index("settled")
    assert not engine.flapping
