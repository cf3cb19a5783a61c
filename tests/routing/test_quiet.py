"""Routing: dependencies and maintenance windows, including a DST change."""

from __future__ import annotations

from datetime import UTC, datetime

from sentinel.config import Config, parse_config
from sentinel.routing.quiet import in_maintenance, inhibited_by, quiet_reason

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
