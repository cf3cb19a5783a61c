"""A check moving between members on a fake timeline: the new owner adopts its stored
alert state (a pending `for` keeps counting, a firing alert stays firing without a
second page) and the old owner forgets it without a transition."""

from __future__ import annotations

from sentinel.config import parse_config
from sentinel.rules.engine import RuleEngine
from tests.rules.test_engine import CONFIG, engine_and_clock, events, result


def fresh() -> RuleEngine:
    engine = RuleEngine()
    engine.configure(parse_config(CONFIG, "t.yaml", {}))
    return engine


async def test_a_moved_check_keeps_counting_its_pending_for() -> None:
    """Pending for 45 s on member A; B adopts it and fires at 60 s from the first failure."""
    a, clock = engine_and_clock()
    a.observe(result(clock, "api", False), clock.now())
    await clock.advance(45)
    stored = a.active()
    b = fresh()
    assert b.adopt(["api"], stored) == 1
    assert b.observe(result(clock, "api", False), clock.now()) == []
    await clock.advance(15)
    assert events(b.observe(result(clock, "api", False), clock.now())) == [
        ("ServiceDown", "api", "firing")
    ]


async def test_adopting_takes_only_the_named_checks_and_a_firing_alert_stays_firing() -> None:
    """B takes api's firing alert (no new firing transition), not cache's; A releases api
    silently and keeps cache."""
    a, clock = engine_and_clock()
    for _ in range(5):
        a.observe(result(clock, "api", False), clock.now())
        a.observe(result(clock, "cache", True), clock.now())
        await clock.advance(15)
    assert {(i.check, i.state.state) for i in a.active()} == {("api", "firing")}
    b = fresh()
    assert b.adopt(["cache"], a.active()) == 0
    assert b.adopt(["api"], a.active()) == 1
    assert b.observe(result(clock, "api", False), clock.now()) == []  # still firing, no page
    dropped = a.release(["api"])
    assert [i.check for i in dropped] == ["api"]
    assert a.active() == []
    assert a.tick(clock.now()) == []  # nothing resolved by the move
