"""The rule engine as timelines on a fake clock: results arrive, alerts move, nobody sleeps."""

from __future__ import annotations

from datetime import UTC, datetime

from sentinel.clock import FakeClock
from sentinel.config import parse_config
from sentinel.probes.results import Result, Sample
from sentinel.rules.engine import Instance, RuleEngine, Transition

CONFIG = """
checks:
  - {name: api, type: http, url: "http://127.0.0.1/health", interval: 15s, labels: {service: shop}}
  - {name: cache, type: redis, url: "redis://127.0.0.1", interval: 15s}
rules:
  - {name: ServiceDown, match: {type: http}, expr: up == 0, for: 1m, severity: critical}
  - name: QueueBacklog
    match: {check: cache}
    expr: 'key_length{key="q"} > 1000'
    severity: high
  - {name: CacheSilent, match: {check: cache}, expr: hit_ratio < 80%, for: 1m, on_no_data: keep}
"""


def engine_and_clock() -> tuple[RuleEngine, FakeClock]:
    clock = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    engine = RuleEngine()
    engine.configure(parse_config(CONFIG, "t.yaml", {}))
    return engine, clock


def result(clock: FakeClock, check: str, ok: bool, *samples: Sample) -> Result:
    return Result(
        check=check,
        type="http" if check == "api" else "redis",
        ok=ok,
        started_at=clock.now(),
        duration=0.01,
        samples=(Sample("up", 1.0 if ok else 0.0), *samples),
    )


def events(transitions: list[Transition]) -> list[tuple[str, str, str]]:
    return [(t.instance.rule, t.instance.check, t.event) for t in transitions]


async def test_service_down_pages_after_its_for_and_resolves() -> None:
    """Failing from 0 s: pending at once, firing at 60 s, resolved when it answers again."""
    engine, clock = engine_and_clock()
    seen: list[tuple[float, tuple[str, str, str]]] = []
    for second in range(0, 121, 15):
        ok = second >= 105
        for e in events(engine.observe(result(clock, "api", ok), clock.now())):
            seen.append((second, e))
        await clock.advance(15)
    assert seen == [
        (0, ("ServiceDown", "api", "pending")),
        (60, ("ServiceDown", "api", "firing")),
        (105, ("ServiceDown", "api", "resolved")),
    ]


async def test_a_blip_never_pages() -> None:
    """Down for 30 s of a 1 m for: pending, then cleared; never firing."""
    engine, clock = engine_and_clock()
    got: list[str] = []
    for second in range(0, 91, 15):
        got += [
            e
            for _, _, e in events(
                engine.observe(result(clock, "api", second not in (15, 30)), clock.now())
            )
        ]
        await clock.advance(15)
    assert got == ["pending", "cleared"]


async def test_the_tick_fires_between_results() -> None:
    """With a result only every 5 minutes, the tick fires the alert at 60 s, not at 300 s."""
    engine, clock = engine_and_clock()
    assert events(engine.observe(result(clock, "api", False), clock.now())) == [
        ("ServiceDown", "api", "pending")
    ]
    await clock.advance(59)
    assert engine.tick(clock.now()) == []
    await clock.advance(1)
    assert events(engine.tick(clock.now())) == [("ServiceDown", "api", "firing")]


async def test_labelled_instances_and_no_for() -> None:
    """key_length{key="q"} > 1000 fires on the first sample, one instance for that key."""
    engine, clock = engine_and_clock()
    got = engine.observe(
        result(clock, "cache", True, Sample("key_length", 1001, (("key", "q"),))), clock.now()
    )
    assert [(t.instance.rule, t.instance.labels, t.event) for t in got] == [
        ("QueueBacklog", (("key", "q"),), "firing")
    ]
    assert got[0].severity == "high"
    assert got[0].instance.value == 1001


async def test_no_data_keeps_a_firing_alert() -> None:
    """When hit_ratio stops being reported, on_no_data: keep leaves the alert firing."""
    engine, clock = engine_and_clock()
    low = Sample("hit_ratio", 0.5)
    engine.observe(result(clock, "cache", True, low), clock.now())
    await clock.advance(60)
    assert events(engine.observe(result(clock, "cache", True, low), clock.now())) == [
        ("CacheSilent", "cache", "firing")
    ]
    await clock.advance(600)  # the lookback has passed: no hit_ratio at all now
    assert engine.observe(result(clock, "cache", True), clock.now()) == []
    assert [i.rule for i in engine.active()] == ["CacheSilent"]


async def test_restored_pending_alert_keeps_counting() -> None:
    """After a restart, a restored pending alert fires when its original for elapses."""
    engine, clock = engine_and_clock()
    engine.observe(result(clock, "api", False), clock.now())
    saved: list[Instance] = engine.active()
    await clock.advance(45)
    again = RuleEngine()
    again.configure(parse_config(CONFIG, "t.yaml", {}))
    again.restore(saved)
    assert again.observe(result(clock, "api", False), clock.now()) == []  # 45 s in: still pending
    await clock.advance(15)
    assert events(again.observe(result(clock, "api", False), clock.now())) == [
        ("ServiceDown", "api", "firing")
    ]


async def test_inline_rules_apply_to_their_check_only() -> None:
    """A rule under a check's own rules: fires for that check and no other."""
    text = """
checks:
  - name: a
    type: tcp
    target: "h:1"
    rules:
      - {name: ADown, expr: up == 0, severity: low}
  - {name: b, type: tcp, target: "h:2"}
"""
    clock = FakeClock(start=datetime(2026, 3, 1, tzinfo=UTC))
    engine = RuleEngine()
    engine.configure(parse_config(text, "t.yaml", {}))
    down_a = Result("a", "tcp", False, clock.now(), 0.01, None, (Sample("up", 0.0),))
    down_b = Result("b", "tcp", False, clock.now(), 0.01, None, (Sample("up", 0.0),))
    assert [
        (t.instance.check, t.event, t.severity) for t in engine.observe(down_a, clock.now())
    ] == [("a", "firing", "low")]
    assert engine.observe(down_b, clock.now()) == []
    rule = engine.rule("ADown", "a")
    assert rule is not None
    assert rule.severity == "low"


async def test_the_tick_evaluates_only_what_can_change_without_a_result() -> None:
    """Quiet pairs are not re-evaluated on the tick; live alerts and absent() rules are."""
    text = CONFIG + "  - {name: NoBackup, match: {check: cache}, expr: 'absent(backup_ok[1h])'}\n"
    clock = FakeClock(start=datetime(2026, 3, 1, tzinfo=UTC))
    engine = RuleEngine()
    engine.configure(parse_config(text, "t.yaml", {}))
    engine.observe(result(clock, "api", True), clock.now())
    before = engine.evaluations
    engine.tick(clock.now())
    assert engine.evaluations - before == 1  # only the absent() rule on cache
    engine.observe(result(clock, "api", False), clock.now())  # ServiceDown now pending on api
    before = engine.evaluations
    engine.tick(clock.now())
    assert engine.evaluations - before == 2
