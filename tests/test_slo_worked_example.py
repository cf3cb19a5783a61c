"""docs/slos.md's worked example holds: the example config's availability SLO (99.9% over
30d on production-api, probed every 10 s) fires what the docs say, when they say, on the
engine's own counters and pair conditions (the rule tick every 5 s, no clock read)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from sentinel import __version__
from sentinel.app.alerts import Alerts
from sentinel.clock import FakeClock
from sentinel.config import load_config
from sentinel.config.slo import Slo
from sentinel.escalation.escalator import Escalator
from sentinel.metrics import Metrics
from sentinel.notify.dispatcher import Dispatcher
from sentinel.probes.results import LatestResults, Result, Sample
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo import Counters, pair_holds
from sentinel.rules.slo_engine import SloEngine
from sentinel.simulate.replay import simulate
from sentinel.simulate.scenario import parse_scenario
from sentinel.store.sqlite import SqliteStore
from tests.examples import EXAMPLE_ENV, PROJECT_EXAMPLE

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()  # a Monday, 09:00 UTC
TICK = 5.0
PAIRS = ("page-fast", "page-slow", "ticket")
MIN = 60.0
HOUR = 3600.0


def example() -> tuple[Slo, float]:
    config = load_config(PROJECT_EXAMPLE, EXAMPLE_ENV)
    slo = next(s for s in config.slos if s.name == "production-api-availability")
    check = next(c for c in config.checks if c.name == "production-api")
    return slo, check.interval


class Timeline:
    """Runs of one check every ``interval`` from three healthy days before T0 on; a run
    at ``t`` seconds after T0 is bad when ``bad(n, t)`` (n counts runs from T0)."""

    def __init__(self, slo: Slo, interval: float, bad: Callable[[int, float], bool]) -> None:
        self.slo, self.interval, self.bad = slo, interval, bad
        self.counters = Counters(slo.longest())
        self.next = T0 - 3 * 86400
        self.pairs = slo.burn_alerts()
        self.firing: set[str] = set()  # the pairs firing after the last ``changes`` tick

    def holds(self, at: float) -> set[str]:
        """The pairs that hold at ``T0 + at`` (runs up to then counted); a pair firing
        keeps holding on its hysteresis."""
        while self.next <= T0 + at:
            since = self.next - T0
            n = round(since / self.interval)
            self.counters.add(self.next, not (since >= 0 and self.bad(n, since)))
            self.next += self.interval
        ratio, now = self.slo.ratio, T0 + at
        return {
            n
            for n, a in self.pairs.items()
            if pair_holds(a, self.counters, ratio, now, n in self.firing)
        }

    def changes(self, until: float, since: float = 0.0) -> list[tuple[float, str, str]]:
        """(seconds after T0, pair, "fires" or "resolves") on each tick from ``since`` up
        to ``until``."""
        out = []
        at = since
        while at <= until:
            now = self.holds(at)
            out += [(at, p, "fires") for p in sorted(now - self.firing)]
            out += [(at, p, "resolves") for p in sorted(self.firing - now)]
            self.firing, at = now, at + TICK
        return out


def test_the_example_probes_often_enough_for_its_slo() -> None:
    """The budget is 0.1% of 259,200 runs a month; the 1h window holds 360 runs."""
    slo, interval = example()
    assert (slo.objective, slo.window, interval) == (99.9, 30 * 86400, 10.0)
    assert slo.burn_alerts()["ticket"].severity == "medium"


def test_a_five_minute_outage() -> None:
    """09:00-09:05 every probe fails: page-fast fires at 09:00:50 (6 failed runs: 1.44%
    of the hour's 360), page-slow at 09:02 (13), the ticket at 09:04:10 (26); they
    resolve as their short windows clear: 09:09, 09:34 and 15:04."""
    slo, interval = example()
    line = Timeline(slo, interval, lambda n, t: t < 5 * MIN)
    assert line.changes(40 * MIN) == [
        (50.0, "page-fast", "fires"),
        (120.0, "page-slow", "fires"),
        (250.0, "ticket", "fires"),
        (9 * MIN, "page-fast", "resolves"),
        (34 * MIN, "page-slow", "resolves"),
    ]
    assert line.changes(6 * HOUR + 3 * MIN, 40 * MIN) == []
    assert line.changes(6 * HOUR + 4 * MIN, 6 * HOUR + 3 * MIN + TICK) == [
        (6 * HOUR + 4 * MIN, "ticket", "resolves")
    ]


def test_one_probe_in_a_hundred_failing() -> None:
    """From 09:00 one run in 100 fails (10x): page-fast never fires; page-slow fires at
    12:20 (13 failed runs in 6h), the ticket at 15:56:40 (26 in 3d). Each stays firing
    while the burn goes on: page-slow's 30m window holds one failed run or two (5.6x or
    11.1x), and once firing a pair needs its short window at only half its factor
    (hysteresis 0.5). When the failures stop (the last at 16:46:40), page-slow resolves
    as the 30m window lets go of it: 17:16."""
    slo, interval = example()
    last = 28 * 1000.0  # the 28th failed run: 16:46:40
    line = Timeline(slo, interval, lambda n, t: n % 100 == 0 and t <= last)
    changes = line.changes(9 * HOUR)
    assert changes == [
        (200 * MIN, "page-slow", "fires"),  # 12:20
        (25 * 1000.0, "ticket", "fires"),  # the 26th failed run: 15:56:40
        (8 * HOUR + 16 * MIN, "page-slow", "resolves"),  # 17:16
    ]


def test_without_hysteresis_page_slow_flaps_on_a_steady_burn() -> None:
    """``hysteresis: 1`` (Sloth's and Pyrra's rule: resolve as soon as either window is
    below the factor): the same steady 1% resolves page-slow at 12:33, when its 30m window
    holds one failed run, and fires it again at 12:36:40 with the next."""
    slo, interval = example()
    data = slo.model_dump(mode="json", by_alias=True)
    data["alerts"]["page-slow"] = {"hysteresis": 1}
    slo = Slo.model_validate(data)
    assert slo.burn_alerts()["page-slow"].hysteresis == 1
    line = Timeline(slo, interval, lambda n, t: n % 100 == 0)
    changes = line.changes(4 * HOUR)
    assert changes[:3] == [
        (200 * MIN, "page-slow", "fires"),  # 12:20
        (213 * MIN, "page-slow", "resolves"),  # 12:33
        (13_000.0, "page-slow", "fires"),  # 12:36:40, the 14th failed run
    ]


def test_at_thirty_seconds_two_failed_probes_in_an_hour_page() -> None:
    """Why the example probes every 10 s: at 30 s the 1h window holds 120 runs, so one
    failed run reads 8.3x and two 16.7x: one run in 100 failing (10x) pages page-fast
    at the second failure, which a 10 s probe would not."""
    slo, _ = example()
    line = Timeline(slo, 30.0, lambda n, t: n % 100 == 0)
    fired = [(at, pair) for at, pair, what in line.changes(2 * HOUR) if what == "fires"]
    assert fired[0] == (50 * MIN, "page-fast")


@pytest.mark.parametrize(("factor", "bad"), [(14.4, "1.44%"), (6.0, "0.60%"), (1.0, "0.10%")])
def test_the_bad_share_each_pair_needs(factor: float, bad: str) -> None:
    slo, _ = example()
    assert f"{factor * (1 - slo.ratio) * 100:.2f}%" == bad


OUTAGE = """
start: "2026-03-02T09:00:00Z"
until: 7h
events:
  - {at: 0s, check: production-api, fail: connection refused}
  - {at: 5m, check: production-api, recover: true}
"""


async def test_a_five_minute_outage_pages_once_through_sentinel_simulate() -> None:
    """The example config through `sentinel simulate` (the daemon's alert shell, routing
    and escalation on a fake clock), production-api down 09:00-09:05: ServiceDown pages
    at 09:01 and resolves at 09:05. The SLO alerts fire inhibited by it and stay
    inhibited after it resolves, while their short windows hold the outage's failures
    (until 09:11, 09:36, 15:06), past their resolutions: no SLO alert is notified, and
    ServiceDown is the only page (sms, PagerDuty)."""
    lines = await simulate(load_config(PROJECT_EXAMPLE, EXAMPLE_ENV), parse_scenario(OUTAGE))
    told = [line for line in lines if "->" in line]
    assert [line for line in told if "SLO:" in line] == []
    pages = {
        line.rsplit(" firing ", 1)[1]
        for line in told
        if " firing " in line and ("-> sms " in line or "-> pagerduty " in line)
    }
    assert pages == {"ServiceDown production-api"}
    slo = "SLO:production-api-availability"
    fast, slow, ticket = (f"{slo}:{p} production-api-availability" for p in PAIRS)
    held = "quiet: inhibited by ServiceDown on production-api (resolved 09:05:00 UTC; held until"
    assert [line for line in lines if "SLO:" in line] == [
        f"+00:01:00  {fast}  FIRING (critical, quiet: inhibited by ServiceDown on production-api)",
        f"+00:02:00  {slow}  FIRING (critical, quiet: inhibited by ServiceDown on production-api)",
        f"+00:05:00  {ticket}  FIRING (medium, {held} 15:06:00 UTC while the 6h window holds"
        " its failures))",
        f"+00:05:00  {fast}  {held} 09:11:00 UTC while the 5m window holds its failures)",
        f"+00:05:00  {slow}  {held} 09:36:00 UTC while the 30m window holds its failures)",
        f"+00:09:00  {fast}  RESOLVED after 8m",
        f"+00:34:00  {slow}  RESOLVED after 32m",
        f"+06:04:00  {ticket}  RESOLVED after 5h59m",
    ]


BURN = """
start: "2026-03-02T09:00:00Z"
until: 4h
events:
  - {at: 0s, check: production-api, fail: "502", share: 1%}
"""


async def test_a_slow_burn_without_servicedown_still_pages() -> None:
    """1% of production-api's probes failing (10x): ServiceDown never fires (one failed
    probe in a row is not a minute down), nothing inhibits page-slow, and it pages
    on-call once, when the 6h window holds 13 failed runs: the 1300th run, 3h36m40s in
    (`share` fails each 100th run)."""
    lines = await simulate(load_config(PROJECT_EXAMPLE, EXAMPLE_ENV), parse_scenario(BURN))
    slow = "SLO:production-api-availability:page-slow production-api-availability"
    assert not any("ServiceDown production-api  FIRING" in line for line in lines)
    fired = [line for line in lines if f"{slow}  FIRING" in line]
    assert len(fired) == 1
    assert fired[0].startswith("+03:37:00")
    assert not any(f"{slow}  RESOLVED" in line for line in lines)
    pages = [line for line in lines if "-> sms" in line and f"firing {slow}" in line]
    assert len(pages) == 1


class Shell:
    """The daemon's alert shell on the example config with the SLO engine attached,
    production-api's results fed by hand every 10 s on a fake clock (healthy SLO
    history before), every transition accepted and saved as the daemon does."""

    def __init__(self, store: SqliteStore, start: datetime) -> None:
        config = load_config(PROJECT_EXAMPLE, EXAMPLE_ENV)
        self.clock = FakeClock(start)
        metrics = Metrics(CollectorRegistry(), LatestResults(), __version__)
        dispatcher = Dispatcher(store, self.clock, metrics, config.notifications)
        escalator = Escalator(config, store, dispatcher, self.clock, metrics)
        self.latest = LatestResults()
        self.rules = RuleEngine()
        slos = SloEngine()
        self.rules.attach(slos)
        self.rules.configure(config)
        slos.seed(start, {"production-api-availability": 6})
        self.alerts = Alerts(
            config, self.rules, self.latest, store, escalator, self.clock, ack_links=False
        )

    async def run(self, ok: bool) -> None:
        """One run of production-api now, the rule tick, then 10 s on."""
        now = self.clock.now()
        samples = (Sample("up", 1.0 if ok else 0.0), Sample("duration_seconds", 0.05))
        error = None if ok else "connection refused"
        result = Result("production-api", "http", ok, now, 0.05, error, samples)
        self.latest.record(result)
        for t in self.rules.observe(result, now) + self.rules.tick(now):
            await self.alerts.accept(t)
        await self.clock.advance(10)

    def quiet(self, rule: str) -> str | None:
        live = {a.facts.rule: a.quiet for a in self.alerts.live().values()}
        assert rule in live, f"{rule} is not firing"
        return live[rule]


FAST = "SLO:production-api-availability:page-fast"


async def test_page_fast_before_servicedown_waits_for_it() -> None:
    """An outage from 08:59:10: page-fast reaches 14.4x with the 6th failed probe and is
    evaluated at 09:00:00, before ServiceDown's `for: 1m` has run (it fires at 09:00:10).
    It waits, held by the pending ServiceDown, then is inhibited by it: no second page
    at the start of an outage either."""
    store = SqliteStore(":memory:")
    await store.open()
    try:
        shell = Shell(store, datetime(2026, 3, 2, 8, 59, 10, tzinfo=UTC))
        for _ in range(6):
            await shell.run(ok=False)  # 08:59:10 ... 09:00:00
        assert shell.quiet(FAST) == (
            "inhibited by ServiceDown on production-api (pending: it fires, or clears and"
            " this one pages)"
        )
        await shell.run(ok=False)  # 09:00:10: ServiceDown fires
        assert shell.quiet("ServiceDown") is None
        assert shell.quiet(FAST) == "inhibited by ServiceDown on production-api"
    finally:
        await store.close()


async def test_page_fast_pages_when_the_pending_source_clears() -> None:
    """The same 6 failed probes, then the service answers: ServiceDown clears without
    firing (a blip for the rule, 1.7% of the hour for the SLO), and page-fast, which
    waited for it, is no longer held: it pages."""
    store = SqliteStore(":memory:")
    await store.open()
    try:
        shell = Shell(store, datetime(2026, 3, 2, 8, 59, 10, tzinfo=UTC))
        for _ in range(6):
            await shell.run(ok=False)
        assert shell.quiet(FAST) is not None
        await shell.run(ok=True)  # 09:00:10
        assert shell.quiet(FAST) is None
    finally:
        await store.close()
