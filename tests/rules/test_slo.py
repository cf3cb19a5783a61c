"""SLO burn-rate alerts as timelines: runs arrive on a fake clock, the engine ticks each
minute, and the alert pairs fire and resolve when the SRE workbook's arithmetic says."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from sentinel.config import parse_config
from sentinel.config.slo import Slo
from sentinel.probes.results import Result
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo import Counters, Ring, burn_rate, exhaustion, status
from sentinel.rules.slo_engine import SloEngine

CONFIG = """
checks:
  - {name: api, type: http, url: "http://127.0.0.1/health", interval: 1s}
slos:
  - {name: api-availability, match: {check: api}, objective: 99.9%}
  - name: api-latency
    match: {check: api}
    objective: 99%
    indicator: latency
    threshold: 1s
"""

HOUR = 3600.0
DAY = 86400.0
Events = list[tuple[float, str, str]]


class Timeline:
    """One check running every ``every`` seconds into a RuleEngine with the SLO engine
    attached; the engine ticks every minute. Time is the ``now`` passed in (the engines
    read no clock), moved by hand. Events are (seconds since start, event, rule)."""

    def __init__(self, every: float = 1.0, config: str = CONFIG, seed: bool = True) -> None:
        self.now = self.start = datetime(2026, 3, 1, tzinfo=UTC)
        self.slos = SloEngine()
        self.rules = RuleEngine()
        self.rules.attach(self.slos)
        self.rules.configure(parse_config(config, "t.yaml", {}))
        if seed:  # healthy runs over the longest window before the start, one each `every`
            self.slos.seed(self.start, {s.name: round(60 / every) for s in self.slos.slos})
        self.every = every
        self.runs = 0
        self.events: Events = []

    @property
    def elapsed(self) -> float:
        return (self.now - self.start).total_seconds()

    def run(self, seconds: float, fails: Callable[[int], bool], duration: float = 0.1) -> None:
        end = self.elapsed + seconds
        next_tick = self.elapsed + 60.0
        while self.elapsed < end:
            ok = not fails(self.runs)
            self.runs += 1
            now = self.now
            self.rules.observe(Result("api", "http", ok, now, duration), now)
            self.now = now + timedelta(seconds=self.every)
            if self.elapsed >= next_tick:
                next_tick += 60.0
                for t in self.rules.tick(self.now):
                    self.events.append((self.elapsed, t.event, t.instance.rule))

    def when(self, event: str, rule: str) -> list[float]:
        return [at for at, e, r in self.events if e == event and r == rule]


def never(_: int) -> bool:
    return False


def always(_: int) -> bool:
    return True


FAST = "SLO:api-availability:page-fast"
SLOW = "SLO:api-availability:page-slow"
TICKET = "SLO:api-availability:ticket"


def test_one_percent_failing_fires_the_6x_page_after_3_6_hours_never_the_14_4x() -> None:
    """1% bad against 99.9% burns at 10x: over a healthy 6h the 6h window reaches 6x
    when 0.6% of it is bad, 3.6 h in; the 1h window never reaches 14.4x."""
    tl = Timeline(every=6.0)
    tl.run(6 * HOUR, never)
    start = tl.elapsed
    tl.run(5 * HOUR, lambda n: n % 100 == 0)
    fired = tl.when("firing", SLOW)
    assert len(fired) == 1
    assert 3.5 * HOUR <= fired[0] - start <= 3.7 * HOUR
    assert tl.when("firing", FAST) == []
    assert tl.rules.rule(SLOW, "api-availability") is not None
    assert tl.rules.rule(SLOW, "api-availability").severity == "critical"  # type: ignore[union-attr]


def test_five_minute_outage_pages_within_two_minutes_and_resolves_as_short_windows_clear() -> None:
    """A total outage burns at 1000x: the 1h window passes 14.4x after 1.44% of an hour
    (52 s) and the next minute's tick fires it. After the recovery each pair resolves
    as its short window (5m, 30m, 6h) no longer holds enough bad runs."""
    tl = Timeline(every=5.0)
    tl.run(2 * HOUR, never)
    start = tl.elapsed
    tl.run(5 * 60, always)
    recovered = tl.elapsed
    tl.run(7 * HOUR, never)
    fast_fired = tl.when("firing", FAST)
    assert len(fast_fired) == 1
    assert 0 < fast_fired[0] - start <= 120
    fast_resolved = tl.when("resolved", FAST)
    assert len(fast_resolved) == 1
    assert 4 * 60 <= fast_resolved[0] - recovered <= 6 * 60
    slow_resolved = tl.when("resolved", SLOW)
    assert len(slow_resolved) == 1
    assert 29 * 60 <= slow_resolved[0] - recovered <= 31 * 60
    ticket_resolved = tl.when("resolved", TICKET)
    assert len(ticket_resolved) == 1
    assert 5.9 * HOUR <= ticket_resolved[0] - recovered <= 6.1 * HOUR
    assert tl.rules.active() == []


def test_slow_burn_just_above_1x_opens_a_ticket_after_days_and_pages_nobody() -> None:
    """1.1x (one bad run in 909) after three healthy days: the 3d window reaches 1x after
    3d / 1.1 = 2.73 days; the ticket pair has severity low; no page fires."""
    tl = Timeline(every=2.0)
    tl.run(3 * DAY, never)
    start = tl.elapsed
    tl.run(3 * DAY, lambda n: n % 909 == 0)
    fired = tl.when("firing", TICKET)
    assert len(fired) == 1
    assert 2.6 * DAY <= fired[0] - start <= 2.8 * DAY
    assert tl.when("firing", FAST) == tl.when("firing", SLOW) == []
    rule = tl.rules.rule(TICKET, "api-availability")
    assert rule is not None
    assert rule.severity == "low"


def test_latency_counts_slow_runs_as_bad() -> None:
    """Latency SLO: runs of 2 s against a 1 s threshold are bad, availability untouched."""
    tl = Timeline(every=10.0, seed=False)
    tl.run(HOUR + 60, never, duration=2.0)  # the 1h window is covered a minute in
    by_name = {s.name: s for s in tl.slos.statuses(tl.now)}
    assert by_name["api-latency"].attainment == 0.0
    assert by_name["api-availability"].attainment == 1.0
    assert "page-fast" in by_name["api-latency"].firing


def test_status_budget_and_exhaustion() -> None:
    """Budget remaining is 1 - bad share / allowed bad share; exhaustion at the 1h burn."""
    tl = Timeline(every=10.0, seed=False)
    tl.run(HOUR, lambda n: n % 2000 == 1999)  # no failure in 360 runs
    tl.run(HOUR, lambda n: n % 720 == 400)  # one bad in the second hour (of 720 runs)
    s = next(s for s in tl.slos.statuses(tl.now) if s.name == "api-availability")
    assert s.total == 720
    assert s.good == 719
    assert s.budget_remaining == pytest.approx(1 - (1 / 720) / 0.001)
    # the 1h window is the last 60 minute buckets, the current (here empty) one included
    assert s.burn["1h"] == pytest.approx((1 / 354) / 0.001)
    assert s.exhaustion == 0.0  # already overspent
    assert exhaustion(0.5, 2.0, 30 * DAY) == pytest.approx(7.5 * DAY)
    assert exhaustion(0.5, None, 30 * DAY) is None
    assert burn_rate(0, 0, 0.999) is None


def test_ring_forgets_buckets_older_than_its_size_and_reads_partial_windows() -> None:
    ring = Ring(60, 5)
    for minute in range(10):
        ring.add(minute * 60 + 1, 1, 2)
    assert ring.sums(9 * 60 + 30, 3 * 60) == (3, 6)
    assert ring.sums(9 * 60 + 30, 3600) == (5, 10)  # only 5 buckets kept
    assert ring.add(0, 1, 1) is False  # too old: ignored
    assert ring.sums(20 * 60, 3 * 60) == (0, 0)  # later: those buckets are past


def test_counters_survive_a_restart_through_their_minutes() -> None:
    """Dirty minutes written and loaded into fresh counters give the same status."""
    slo = Slo.model_validate({"name": "s", "match": {"check": "a"}, "objective": "99.9%"})
    before = Counters(slo.longest())
    t0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    rows = []
    for i in range(3000):
        before.add(t0 + i * 30, i % 50 != 0)
        if i % 100 == 99:  # the daemon writes them each minute
            rows += before.take_dirty()
    rows += before.take_dirty()
    assert before.take_dirty() == []  # taken once
    after = Counters(slo.longest())
    for row in rows:
        after.load(*row)
    now = t0 + 3000 * 30
    assert status(slo, after, now) == status(slo, before, now)


def test_overrides_merge_into_default_pairs() -> None:
    slo = Slo.model_validate(
        {
            "name": "s",
            "match": {"check": "a"},
            "objective": 99.5,
            "alerts": {"ticket": None, "page-fast": {"severity": "high"}},
        }
    )
    pairs = slo.burn_alerts()
    assert sorted(pairs) == ["page-fast", "page-slow"]
    assert pairs["page-fast"].severity == "high"
    assert pairs["page-fast"].factor == 14.4
    assert slo.ratio == pytest.approx(0.995)


def test_cached_window_sums_equal_a_plain_sum_with_late_runs() -> None:
    """The finished-bucket cache stays right when runs land late in earlier buckets."""
    rng = random.Random(19)
    ring = Ring(60, 30)
    kept: list[tuple[float, int]] = []
    now = 0.0
    for _ in range(5000):
        now += rng.uniform(0, 20)
        at = now - rng.choice([0, 0, 0, 30, 90, 400])  # some runs arrive late
        good = rng.randint(0, 1)
        if ring.add(at, good, 1):
            kept.append((at, good))
        span = rng.choice([60, 300, 900, 1800, 3600])
        got = ring.sums(now, span)
        index = int(now // 60)
        count = min(30, span // 60)
        assert ring.head is not None
        low = max(index - count + 1, ring.head - 29)
        inside = [g for t, g in kept if low <= int(t // 60) <= index]
        assert got == (sum(inside), len(inside))


def test_a_reload_keeps_the_counters_and_a_new_window_keeps_what_fits() -> None:
    """Reloading the same SLOs keeps every count; a shorter window keeps the hours it
    still covers; a removed SLO's alerts and counters go."""
    tl = Timeline(every=60.0, seed=False)
    tl.run(10 * HOUR, lambda n: n % 10 == 0)
    before = {s.name: s for s in tl.slos.statuses(tl.now)}["api-availability"]
    tl.rules.configure(parse_config(CONFIG, "t.yaml", {}))
    same = {s.name: s for s in tl.slos.statuses(tl.now)}["api-availability"]
    assert same == before
    shorter = CONFIG.replace("objective: 99.9%}", "objective: 99.9%, window: 4d}")
    tl.rules.configure(parse_config(shorter, "t.yaml", {}))
    resized = {s.name: s for s in tl.slos.statuses(tl.now)}["api-availability"]
    assert (resized.good, resized.total) == (before.good, before.total)
    assert resized.burn == before.burn
    assert tl.rules.active() != []
    gone = CONFIG.split("  - {name: api-availability")[0]
    tl.rules.configure(
        parse_config(gone + "  - {name: x, match: {check: api}, objective: 99%}", "t.yaml", {})
    )
    assert [s.name for s in tl.slos.statuses(tl.now)] == ["x"]
    assert all(i.check == "x" for i in tl.rules.active())


def test_a_steady_burn_keeps_page_slow_firing_until_the_failures_stop() -> None:
    """1 run in 100 failing at a 10 s interval (10x): the 30m window holds one failed run
    (5.6x, below 6x) or two (11.1x), so without hysteresis page-slow resolves and fires
    again every 16m40s. Once firing, the short window needs only half the factor: it
    fires once and stays while the burn goes on (its status says firing too, while only
    the hysteresis holds it); when the failures stop it resolves as the 30m window lets
    go of the last one."""
    tl = Timeline(every=10.0)
    tl.run(6 * HOUR, never)
    tl.run(8 * HOUR, lambda n: n % 100 == 0)
    assert len(tl.when("firing", SLOW)) == 1
    assert tl.when("resolved", SLOW) == []
    assert tl.when("firing", FAST) == []
    last = (tl.runs - 1) // 100 * 100 * 10.0  # run n starts n x 10 s in
    tl.run(last + 20 * 60 - tl.elapsed, never)  # the one before has left the 30m window
    status = {s.name: s for s in tl.slos.statuses(tl.now)}["api-availability"]
    assert status.burn["30m"] is not None
    assert 3 <= status.burn["30m"] < 6
    assert "page-slow" in status.firing
    assert tl.when("resolved", SLOW) == []
    tl.run(2 * HOUR, never)
    resolved = tl.when("resolved", SLOW)
    assert len(resolved) == 1
    assert 30 * 60 <= resolved[0] - last <= 32 * 60


def test_hysteresis_one_resolves_as_either_window_drops_below_the_factor() -> None:
    """``hysteresis: 1`` is Sloth's and Pyrra's rule: the same steady burn flaps."""
    config = CONFIG.replace(
        "objective: 99.9%}", "objective: 99.9%, alerts: {page-slow: {hysteresis: 1}}}"
    )
    tl = Timeline(every=10.0, config=config)
    tl.run(6 * HOUR, never)
    tl.run(8 * HOUR, lambda n: n % 100 == 0)
    assert len(tl.when("firing", SLOW)) > 5
    assert len(tl.when("resolved", SLOW)) > 5


def test_hysteresis_is_a_share_of_the_factor() -> None:
    slo = Slo.model_validate(
        {
            "name": "s",
            "match": {"check": "a"},
            "objective": 99.9,
            "alerts": {
                "x": {
                    "factor": 2,
                    "long": "1h",
                    "short": "5m",
                    "severity": "low",
                    "hysteresis": 0.8,
                }
            },
        }
    )
    pairs = slo.burn_alerts()
    assert pairs["x"].hysteresis == 0.8
    assert pairs["page-fast"].hysteresis == 0.5
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="hysteresis"):
            Slo.model_validate(
                {
                    "name": "s",
                    "match": {"check": "a"},
                    "objective": 99.9,
                    "alerts": {"ticket": {"hysteresis": bad}},
                }
            )
