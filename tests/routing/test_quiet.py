"""Routing: dependencies and maintenance windows, including a DST change."""

from __future__ import annotations

from datetime import UTC, datetime

from sentinel.config import Config, parse_config
from sentinel.routing.quiet import in_maintenance, inhibited_by, quiet_reason, slo_holds

CONFIG = """
checks:
  - {name: api, type: tcp, target: "h:1", labels: {service: production}}
  - {name: db, type: tcp, target: "h:2", labels: {service: production}}
  - {name: other, type: tcp, target: "h:3", labels: {service: staging}}
dependencies:
  api: [db]
maintenance:
  - {name: nightly, cron: "0 1 * * *", duration: 2h, timezone: America/New_York, match: {service: production}}
"""


def config() -> Config:
    return parse_config(CONFIG, "t.yaml", {})


def test_a_down_dependency_quiets_its_dependents_only() -> None:
    """While db is down, api's alerts are suppressed with the reason; db's own are not."""
    noon = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    cfg = config()
    assert (
        quiet_reason(cfg, "api", {"service": "production"}, noon, down={"db"})
        == "dependency db is down"
    )
    assert quiet_reason(cfg, "db", {"service": "production"}, noon, down={"db"}) is None
    assert quiet_reason(cfg, "api", {"service": "production"}, noon, down=set()) is None


def test_maintenance_window_in_its_own_time_zone_across_dst() -> None:
    """01:00-03:00 New York is 06:00-08:00 UTC in winter and 05:00-07:00 UTC in summer."""
    window = config().maintenance[0]
    assert in_maintenance(window, datetime(2026, 1, 15, 7, 30, tzinfo=UTC))
    assert not in_maintenance(window, datetime(2026, 1, 15, 8, 30, tzinfo=UTC))
    assert in_maintenance(window, datetime(2026, 7, 15, 5, 30, tzinfo=UTC))
    assert not in_maintenance(window, datetime(2026, 7, 15, 7, 30, tzinfo=UTC))
    # 2026-03-08: clocks go from 02:00 to 03:00; the window opens at 01:00 EST (06:00 UTC)
    # and lasts two real hours
    assert in_maintenance(window, datetime(2026, 3, 8, 7, 59, tzinfo=UTC))
    assert not in_maintenance(window, datetime(2026, 3, 8, 8, 1, tzinfo=UTC))


def test_maintenance_matches_labels() -> None:
    """Only checks whose labels match the window are quiet."""
    cfg = config()
    during = datetime(2026, 1, 15, 7, 0, tzinfo=UTC)
    assert (
        quiet_reason(cfg, "api", {"service": "production"}, during, set()) == "maintenance nightly"
    )
    assert quiet_reason(cfg, "other", {"service": "staging"}, during, set()) is None


def test_inhibition_with_equal_labels() -> None:
    """The spec's rule: ServiceDown on the production API quiets other production alerts."""
    cfg = parse_config(
        CONFIG
        + """
inhibit:
  - source: {alert: ServiceDown, labels: {service: production, tier: api}}
    target: {labels: {service: production}}
    equal: [service]
""",
        "t.yaml",
        {},
    )
    source = {"alertname": "ServiceDown", "check": "api", "service": "production", "tier": "api"}
    slow_db = {"alertname": "SlowQueries", "check": "db", "service": "production"}
    staging = {"alertname": "SlowQueries", "check": "other", "service": "staging"}
    firing = [("src", source)]
    assert inhibited_by(cfg.inhibit, slow_db, "t1", firing) == "inhibited by ServiceDown on api"
    assert inhibited_by(cfg.inhibit, staging, "t2", firing) is None  # target does not match
    assert inhibited_by(cfg.inhibit, source, "src", firing) is None  # never itself
    assert inhibited_by(cfg.inhibit, slow_db, "t1", []) is None  # source not firing


HOLD_CONFIG = (
    CONFIG
    + """
slos:
  - {name: api-availability, match: {check: api}, objective: 99.9%, labels: {service: production}}
  - name: api-loose
    match: {check: api}
    objective: 99%
    labels: {service: production}
    inhibition_hold: false
inhibit:
  - source: {alert: ServiceDown, labels: {service: production}}
    target: {labels: {service: production}}
    equal: [service]
"""
)
FAST = {
    "alertname": "SLO:api-availability:page-fast",
    "check": "api-availability",
    "service": "production",
    "slo": "api-availability",
    "slo_alert": "page-fast",
}


def test_an_slo_alert_stays_inhibited_for_its_short_window_after_the_source_resolves() -> None:
    """ServiceDown on one of the SLO's checks resolved at t=1000: page-fast (5m short
    window) stays inhibited until 1000 + 5m + a minute (its evaluation), while the window
    still holds the outage's failures; then the hold ends. Alertmanager's inhibition (no
    hold) ends at once."""
    cfg = parse_config(HOLD_CONFIG, "t.yaml", {})
    holds = slo_holds(cfg)
    hold = holds["SLO:api-availability:page-fast"]
    assert (hold.seconds, hold.checks, hold.window) == (360.0, frozenset({"api"}), "5m")
    assert holds["SLO:api-availability:page-slow"].seconds == 31 * 60
    assert holds["SLO:api-availability:ticket"].seconds == 6 * 3600 + 60
    assert not any(name.startswith("SLO:api-loose:") for name in holds)  # inhibition_hold off
    down = {"alertname": "ServiceDown", "check": "api", "service": "production"}
    held = [("src", down, 1000.0, False)]
    reason = inhibited_by(cfg.inhibit, FAST, "t", [], held, hold, now=1000.0 + 359)
    assert reason == (
        "inhibited by ServiceDown on api (resolved 00:16:40 UTC; held until 00:22:40 UTC"
        " while the 5m window holds its failures)"
    )
    assert inhibited_by(cfg.inhibit, FAST, "t", [], held, hold, now=1000.0 + 360) is None
    assert inhibited_by(cfg.inhibit, FAST, "t", [], held, None, now=1000.0 + 10) is None
    # a source on a check the SLO does not cover holds nothing
    db_down = {**down, "check": "db"}
    assert (
        inhibited_by(cfg.inhibit, FAST, "t", [], [("s", db_down, 1000.0, False)], hold, 1010)
        is None
    )
    # while firing, it inhibits as always
    assert (
        inhibited_by(cfg.inhibit, FAST, "t", [("src", down)]) == "inhibited by ServiceDown on api"
    )
    assert slo_holds(parse_config(CONFIG, "t.yaml", {})) == {}  # no inhibit rules


def test_a_pending_source_holds_an_slo_alert_that_fired_while_it_was_pending() -> None:
    """ServiceDown pending since t=1000 (its `for` running): page-fast firing at 1000 or
    later waits for it (it fires: inhibited; it clears: page-fast pages). One that was
    firing before, and sees ServiceDown go pending later, is not held."""
    cfg = parse_config(HOLD_CONFIG, "t.yaml", {})
    hold = slo_holds(cfg)["SLO:api-availability:page-fast"]
    down = {"alertname": "ServiceDown", "check": "api", "service": "production"}
    pending = [("src", down, 1000.0, True)]
    reason = inhibited_by(cfg.inhibit, FAST, "t", [], pending, hold, 1030.0, fired_at=1000.0)
    assert (
        reason
        == "inhibited by ServiceDown on api (pending: it fires, or clears and this one pages)"
    )
    assert inhibited_by(cfg.inhibit, FAST, "t", [], pending, hold, 1030.0, fired_at=999.0) is None
    assert inhibited_by(cfg.inhibit, FAST, "t", [], pending, hold, 1030.0) is None
