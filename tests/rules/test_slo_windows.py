"""SLO windows and indicators beyond the rolling availability budget: calendar months in a
time zone, ratio indicators read from two counters, maintenance left out of the budget
(and quieting SLO alerts), and pairs that wait for their long window to be covered.
Time moves on a FakeClock; the engines read only the ``now`` they are given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentinel.clock import FakeClock
from sentinel.config import Config, parse_config
from sentinel.config.slo import Slo
from sentinel.probes.results import Result, Sample
from sentinel.routing.quiet import MaintenanceTimes, in_maintenance, quiet_reason
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo import Counters, hour_offset, month_bounds
from sentinel.rules.slo_engine import SloEngine

HOUR = 3600.0

CHECKS = """
checks:
  - {name: api, type: http, url: "http://127.0.0.1/health", interval: 1m, labels: {team: web}}
  - {name: db, type: tcp, target: "127.0.0.1:5432", interval: 1m, labels: {team: data}}
"""


class Engines:
    """A RuleEngine with the SLO engine attached, fed results on a FakeClock."""

    def __init__(self, text: str, start: datetime) -> None:
        self.config: Config = parse_config(CHECKS + text, "t.yaml", {})
        self.clock = FakeClock(start)
        self.slos = SloEngine()
        self.rules = RuleEngine()
        self.rules.attach(self.slos)
        self.rules.configure(self.config)
        self.events: list[tuple[datetime, str, str]] = []

    async def run(
        self,
        minutes: int,
        ok: bool = True,
        check: str = "api",
        samples: tuple[Sample, ...] = (),
    ) -> None:
        """One run a minute for ``minutes`` minutes, ticking after each."""
        for _ in range(minutes):
            now = self.clock.now()
            self.rules.observe(Result(check, "http", ok, now, 0.1, None, samples), now)
            await self.clock.advance(60)
            for t in self.rules.tick(self.clock.now()):
                self.events.append((self.clock.now(), t.event, t.instance.rule))

    def status(self, name: str) -> tuple[int, int]:
        found = next(s for s in self.slos.statuses(self.clock.now()) if s.name == name)
        return found.good, found.total


async def test_calendar_month_counts_from_the_first_of_the_month_in_its_time_zone() -> None:
    """window: month in Europe/Berlin: March starts on 28 Feb 23:00 UTC. Runs before it
    (February, local) leave the budget when March begins; a rolling 30d window keeps them."""
    e = Engines(
        """
slos:
  - {name: monthly, match: {check: api}, objective: 99%, window: month, timezone: Europe/Berlin}
  - {name: rolling, match: {check: api}, objective: 99%}
""",
        datetime(2026, 2, 28, 20, 0, tzinfo=UTC),
    )
    await e.run(120, ok=False)  # 20:00-22:00 UTC: February in Berlin
    await e.run(59)  # 22:00-22:59
    assert e.status("monthly") == (59, 179)
    await e.run(601)  # 22:59, then 23:00 (March in Berlin) to 09:00: past the 6h of minutes
    assert e.status("monthly") == (600, 600)  # only March's runs, read from hours
    assert e.status("rolling") == (660, 780)
    monthly = next(s for s in e.slos.statuses(e.clock.now()) if s.name == "monthly")
    assert monthly.window == 31 * 86400 - 3600  # March in Berlin, one hour lost to DST
    assert monthly.window_start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC).timestamp()
    assert monthly.budget_remaining == 1.0


async def test_a_month_in_a_half_hour_time_zone_starts_on_the_half_hour() -> None:
    """Asia/Kolkata is UTC+5:30: April starts at 31 Mar 18:30 UTC; the hour buckets follow
    the zone so the month's first hour holds none of March's runs."""
    e = Engines(
        """
slos:
  - {name: m, match: {check: api}, objective: 99%, window: month, timezone: Asia/Kolkata}
""",
        datetime(2026, 3, 31, 17, 0, tzinfo=UTC),
    )
    await e.run(90, ok=False)  # 17:00-18:30 UTC: March in Kolkata
    await e.run(8 * 60)  # April, past the minutes' six hours
    assert e.status("m") == (480, 480)
    start, end = month_bounds(e.clock.now().timestamp(), "Asia/Kolkata")
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 3, 31, 18, 30, tzinfo=UTC)
    assert end - start == 30 * 86400


def test_month_window_config_and_its_errors() -> None:
    """window: month with a time zone; a time zone on a rolling window, a bad zone or a
    window out of range are refused with the reason."""
    slo = Slo.model_validate(
        {"name": "s", "match": {"check": "a"}, "objective": "99.9%", "window": "month"}
    )
    assert slo.window == "month"
    assert slo.longest() == 31 * 86400
    assert slo.model_dump(mode="json")["window"] == "month"
    for bad, says in (
        ({"timezone": "Europe/Berlin"}, "timezone applies to window: month only"),
        ({"window": "month", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"window": "10m"}, "window must be month or a duration from 1h to 90d"),
        ({"window": "weekly"}, "invalid duration"),
    ):
        with pytest.raises(ValueError, match=says):
            Slo.model_validate({"name": "s", "match": {"check": "a"}, "objective": 99, **bad})


RATIO = """
slos:
  - name: errors
    match: {check: api}
    objective: 99%
    indicator: ratio
    samples: {total: 'requests_total', bad: 'requests_total{code="500"}'}
  - name: goods
    match: {check: api}
    objective: 99%
    indicator: ratio
    samples: {total: 'requests_total', good: 'requests_total{code="200"}'}
"""


def requests(ok: float, bad: float) -> tuple[Sample, ...]:
    return (
        Sample("requests_total", ok, (("code", "200"),)),
        Sample("requests_total", bad, (("code", "500"),)),
    )


async def test_ratio_indicator_counts_counter_increases_and_reads_resets() -> None:
    """Each run adds the increase of the counters since the previous run, per series; a
    counter that goes down was reset (its value is the increase); a run without the
    samples (a failed scrape) adds nothing; the first run only sets the base."""
    e = Engines(RATIO, datetime(2026, 5, 4, 12, 0, tzinfo=UTC))
    await e.run(1, samples=requests(1000, 10))  # base
    assert e.status("errors") == (0, 0)
    await e.run(1, samples=requests(1090, 20))  # +90 ok, +10 bad
    assert e.status("errors") == (90, 100)
    assert e.status("goods") == (90, 100)
    await e.run(1, ok=False)  # scrape failed: no samples, no data
    assert e.status("errors") == (90, 100)
    await e.run(1, samples=requests(1190, 25))  # +100 ok, +5 bad since the last values
    assert e.status("errors") == (190, 205)
    await e.run(1, samples=requests(40, 25))  # the 200 series restarted: +40, +0
    assert e.status("errors") == (230, 245)
    assert e.status("goods") == (230, 245)
    await e.run(1, samples=requests(140, 3))  # now the 500 series restarted: +100, +3
    assert e.status("errors") == (330, 348)


def test_ratio_config_needs_one_of_bad_or_good() -> None:
    base = {"name": "s", "match": {"check": "a"}, "objective": 99, "indicator": "ratio"}
    with pytest.raises(ValueError, match="needs samples"):
        Slo.model_validate(base)
    with pytest.raises(ValueError, match="exactly one of bad or good"):
        Slo.model_validate({**base, "samples": {"total": "t", "bad": "b", "good": "g"}})
    with pytest.raises(ValueError, match="not a sample selector"):
        Slo.model_validate({**base, "samples": {"total": "t{", "bad": "b"}})
    with pytest.raises(ValueError, match="samples applies to indicator: ratio only"):
        Slo.model_validate(
            {**base, "indicator": "availability", "samples": {"total": "t", "bad": "b"}}
        )


MAINTENANCE = """
maintenance:
  - {name: web-deploys, cron: "0 2 * * *", duration: 1h, match: {team: web}}
slos:
  - {name: excluded, match: {check: api}, objective: 99.9%, maintenance: exclude}
  - {name: counted, match: {check: api}, objective: 99.9%}
  - {name: both, match: {check: "*"}, objective: 99.9%}
  - {name: by-label, match: {check: "*"}, objective: 99.9%, labels: {team: web}}
  - {name: all-web, match: {team: web}, objective: 99.9%}
"""


async def test_maintenance_minutes_are_left_out_of_an_excluding_budget() -> None:
    """maintenance: exclude: the runs of 02:00-03:00 (in the window covering the check)
    are not counted, neither good nor bad; the default (count) counts them."""
    e = Engines(MAINTENANCE, datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    await e.run(60)  # 01:00-02:00
    await e.run(60, ok=False)  # 02:00-03:00: the deploy breaks the API
    await e.run(60)  # 03:00-04:00
    # 02:00 to 03:00 left out: a window includes its last instant, as for quieting
    assert e.status("excluded") == (119, 119)
    assert e.status("counted") == (120, 180)
    await e.run(1, ok=False)  # 04:00, outside the window: counted as bad
    assert e.status("excluded") == (119, 120)


def test_maintenance_times_follow_the_cron_and_answer_out_of_order() -> None:
    """MaintenanceTimes agrees with in_maintenance, whatever order times are asked in."""
    cfg = parse_config(CHECKS + MAINTENANCE, "t.yaml", {})
    times = MaintenanceTimes(cfg.maintenance)
    assert times.covering({"team": "web"}) == (0,)
    assert times.covering({"team": "data"}) == ()
    base = datetime(2026, 6, 1, tzinfo=UTC)
    moments = [base + timedelta(minutes=m) for m in (150, 30, 119, 120, 180, 181, 3000, 10, 1560)]
    for at in moments:
        assert times.active(0, at.timestamp()) == in_maintenance(cfg.maintenance[0], at), at


def test_label_matched_maintenance_quiets_slo_alerts_that_it_covers() -> None:
    """An SLO alert's "check" is the SLO: a maintenance window quiets it when its match
    covers every check the SLO selects, or names the SLO's own labels; a window over only
    some of its checks does not (the others can still burn the budget)."""
    cfg = parse_config(CHECKS + MAINTENANCE, "t.yaml", {})
    inside = datetime(2026, 6, 1, 2, 30, tzinfo=UTC)
    outside = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
    assert quiet_reason(cfg, "excluded", {}, inside, set()) == "maintenance web-deploys"
    assert quiet_reason(cfg, "counted", {}, inside, set()) == "maintenance web-deploys"
    assert quiet_reason(cfg, "excluded", {}, outside, set()) is None
    assert quiet_reason(cfg, "both", {}, inside, set()) is None  # db is not in it
    assert quiet_reason(cfg, "all-web", {}, inside, set()) == "maintenance web-deploys"
    assert quiet_reason(cfg, "by-label", {}, inside, set()) == "maintenance web-deploys"


async def test_a_new_slo_judges_a_pair_only_once_its_long_window_is_covered() -> None:
    """A new SLO on a dead service: the first failure would read 100% bad in every
    window; page-fast waits until the counters span its 1h, page-slow its 6h, and the
    ticket (3d) stays quiet the first day. The status lists the pairs still warming."""
    e = Engines(
        "slos:\n  - {name: s, match: {check: api}, objective: 99.9%}\n",
        datetime(2026, 6, 1, tzinfo=UTC),
    )
    start = e.clock.now()
    await e.run(2)
    status = e.slos.statuses(e.clock.now())[0]
    assert status.firing == ()
    assert status.warming == ("page-fast", "page-slow", "ticket")
    await e.run(24 * 60, ok=False)
    fired = {rule: at - start for at, event, rule in e.events if event == "firing"}
    assert fired == {"SLO:s:page-fast": timedelta(hours=1), "SLO:s:page-slow": timedelta(hours=6)}
    assert e.slos.statuses(e.clock.now())[0].warming == ("ticket",)


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])
def test_seeded_history_reads_as_the_same_minutes_loaded_one_by_one(timezone: str) -> None:
    """seed() fills the hours arithmetically; every window reads as if each minute had
    been loaded from the store (ending mid-hour, with hours offset by :30)."""
    slo = Slo.model_validate(
        {
            "name": "s",
            "match": {"check": "a"},
            "objective": 99,
            "window": "month",
            "timezone": timezone,
        }
    )
    before = datetime(2026, 6, 10, 13, 47, 30, tzinfo=UTC).timestamp()
    offset = hour_offset(timezone)
    seeded, loaded = Counters(slo.longest(), offset), Counters(slo.longest(), offset)
    seeded.seed(before, 4 * 86400, 3)
    first, end = int((before - 4 * 86400) // 60), int(before // 60)
    for minute in range(first, end):
        loaded.load(minute, 3, 3)
    for span in (300, 3600, 6 * 3600, 3 * 86400, 5 * 86400):
        assert seeded.sums(before, span) == loaded.sums(before, span), span
    assert seeded.first == loaded.first
