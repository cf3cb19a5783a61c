"""`sentinel simulate` with SLOs: the windows start full of healthy history (one failed
run does not trip every pair), a month replays, and `share:` spreads failures evenly."""

from __future__ import annotations

import pytest

from sentinel.config import parse_config
from sentinel.simulate.replay import simulate
from sentinel.simulate.scenario import ScenarioError, parse_scenario

CONFIG = """
checks:
  - {name: api, type: tcp, target: "127.0.0.1:1", interval: 1m}
channels:
  pager: {type: webhook, url: "http://127.0.0.1:9/hook"}
escalation:
  policies:
    critical: [{after: 0s, notify: [pager]}]
    low: [{after: 0s, notify: [pager]}]
slos:
  - {name: api-availability, match: {check: api}, objective: 99%}
"""

FAST = "SLO:api-availability:page-fast api-availability"
TICKET = "SLO:api-availability:ticket api-availability"


async def timeline(scenario: str) -> list[str]:
    lines = await simulate(parse_config(CONFIG, "t.yaml", {}), parse_scenario(scenario))
    return [line for line in lines if "->" not in line]


async def test_one_failed_run_does_not_trip_every_pair() -> None:
    """The checks were up before the scenario, so the windows start full: one failed run
    is 1.7% of the hour (1.7x against 99%), not 100% of an empty window."""
    lines = await timeline(
        """
until: 2h
events:
  - {at: 0s, check: api, fail: refused}
  - {at: 30s, check: api, recover: true}
"""
    )
    assert lines == ["+00:00:00  api  check fails: refused", "+00:00:30  api  check recovers"]


async def test_a_month_replays_an_outage_and_a_slow_burn() -> None:
    """30 days of a check run each minute: a 10-minute outage on day 10 pages once 14.4%
    of the hour is bad (9 runs) and resolves as the 5m window clears; from day 20 one run
    in 40 fails (2.5x): no page, and the ticket opens after 3d / 2.5 = 28.8 h."""
    lines = await timeline(
        """
start: "2026-03-01T00:00:00Z"
until: 30d
events:
  - {at: 10d, check: api, fail: refused}
  - {at: 10d10m, check: api, recover: true}
  - {at: 20d, check: api, fail: "502", share: 2.5%}
"""
    )
    assert lines == [
        "+240:00:00  api  check fails: refused",
        f"+240:08:00  {FAST}  FIRING (critical)",
        "+240:10:00  api  check recovers",
        f"+240:14:00  {FAST}  RESOLVED after 6m",
        "+480:00:00  api  check fails (2.5% of runs): 502",
        f"+509:00:00  {TICKET}  FIRING (low)",
    ]


def test_share_is_a_percentage_of_runs_on_a_fail() -> None:
    with pytest.raises(ScenarioError, match="share must be a percentage"):
        parse_scenario("until: 1h\nevents:\n  - {at: 0s, check: api, fail: x, share: 0%}\n")
    with pytest.raises(ScenarioError, match="share: belongs to a fail"):
        parse_scenario("until: 1h\nevents:\n  - {at: 0s, check: api, recover: true, share: 1%}\n")
    event = parse_scenario("until: 1h\nevents:\n  - {at: 0s, check: api, fail: x, share: 2%}\n")
    assert event.events[0].share == pytest.approx(0.02)
