"""The spec's rules behave as written: each driven by a timeline on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sentinel.clock import FakeClock
from sentinel.config import load_config
from sentinel.probes.results import Result, Sample
from sentinel.rules.engine import RuleEngine
from tests.examples import EXAMPLE_ENV, PROJECT_EXAMPLE


class Timeline:
    def __init__(self) -> None:
        self.clock = FakeClock(start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        self.engine = RuleEngine()
        self.engine.configure(load_config(PROJECT_EXAMPLE, EXAMPLE_ENV))
        self.fired: list[tuple[int, str, str]] = []
        self.second = 0

    def result(self, check: str, kind: str, ok: bool, *samples: Sample) -> None:
        r = Result(
            check, kind, ok, self.clock.now(), 0.2, None, (Sample("up", float(ok)), *samples)
        )
        for t in self.engine.observe(r, self.clock.now()):
            if t.event in ("firing", "resolved"):
                self.fired.append((self.second, t.instance.rule, t.event))

    async def wait(self, seconds: int) -> None:
        await self.clock.advance(seconds)
        self.second += seconds
        for t in self.engine.tick(self.clock.now()):
            if t.event in ("firing", "resolved"):
                self.fired.append((self.second, t.instance.rule, t.event))


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


async def test_service_down_fires_after_one_minute(timeline: Timeline) -> None:
    """production-api down from 0 s (checked every 30 s): ServiceDown fires at 60 s, resolves when up."""
    for i in range(6):
        timeline.result("production-api", "http", i >= 4)
        await timeline.wait(30)
    assert ("ServiceDown", "firing") in [(r, e) for _, r, e in timeline.fired]
    assert (60, "ServiceDown", "firing") in timeline.fired
    assert (120, "ServiceDown", "resolved") in timeline.fired


async def test_queue_backlog_fires_on_the_first_sample(timeline: Timeline) -> None:
    """key_length of the image queue over 1,000 fires at once (no for)."""
    queue = Sample("key_length", 1001, (("key", "image-processing-queue"),))
    timeline.result("cache", "redis", True, queue, Sample("hit_ratio", 0.95))
    assert (0, "QueueBacklog", "firing") in timeline.fired


async def test_memory_ratio_needs_five_minutes(timeline: Timeline) -> None:
    """memory_used / memory_total > 90% for 5m: fires at 5 minutes, not before."""
    for _ in range(7):
        timeline.result(
            "production-system",
            "http",
            True,
            Sample("memory_used", 95),
            Sample("memory_total", 100),
            Sample("cpu_usage_percent", 10),
        )
        await timeline.wait(60)
    assert [(s, r) for s, r, e in timeline.fired if e == "firing"] == [(300, "MemoryCritical")]


async def test_high_cpu_keeps_firing_through_a_dip(timeline: Timeline) -> None:
    """HighCpu (for 10m, keep_firing_for 5m) stays firing through a 2-minute dip."""
    for minute in range(30):
        cpu = 50 if minute in (14, 15) else 95
        timeline.result(
            "production-system",
            "http",
            True,
            Sample("cpu_usage_percent", cpu),
            Sample("memory_used", 1),
            Sample("memory_total", 100),
        )
        await timeline.wait(60)
    assert [(s, e) for s, r, e in timeline.fired if r == "HighCpu"] == [(600, "firing")]


async def test_certificate_expiring_and_backup_missed(timeline: Timeline) -> None:
    """A chain with 10 days left fires CertificateExpiring; a failed heartbeat BackupMissed."""
    expiry = Sample("chain_expiry_seconds", 10 * 86400.0, (("subject", "R3"),))
    timeline.result("production-tls", "tls", True, expiry)
    timeline.result("nightly-backup", "heartbeat", False)
    rules = {r for _, r, e in timeline.fired if e == "firing"}
    assert {"CertificateExpiring", "BackupMissed"} <= rules


def firing_times(timeline: Timeline, rule: str) -> list[int]:
    return [s for s, r, e in timeline.fired if r == rule and e == "firing"]


async def test_slow_responses_p95_for_three_minutes(timeline: Timeline) -> None:
    """p95 of duration over 5m above 2 s, held 3m: fires 3 minutes after the p95 crosses."""
    for i in range(24):  # every 30 s; slow from minute 4 on
        slow = i >= 8
        timeline.result(
            "production-api", "http", True, Sample("duration_seconds", 3.0 if slow else 0.2)
        )
        await timeline.wait(30)
    times = firing_times(timeline, "SlowResponses")
    assert len(times) == 1
    assert 240 + 180 <= times[0] <= 240 + 180 + 60


async def test_high_error_rate_over_five_minutes(timeline: Timeline) -> None:
    """1 failure in 10 results is 10% errors over 5m: HighErrorRate fires after its 5m for."""
    for i in range(30):
        timeline.result("production-api", "http", i % 10 != 0)
        await timeline.wait(30)
    assert firing_times(timeline, "HighErrorRate")
    assert "ServiceDown" not in {r for _, r, _ in timeline.fired}


async def test_pool_saturation_cache_hits_and_inventory(timeline: Timeline) -> None:
    """Pool over 80% for 5m, hit ratio under 80% for 10m, and any critical inventory at once."""
    for _ in range(11):
        timeline.result(
            "production-db",
            "postgres",
            True,
            Sample("connections_used_ratio", 0.85),
            Sample("critical_inventory_items", 2),
        )
        timeline.result("cache", "redis", True, Sample("hit_ratio", 0.6))
        await timeline.wait(60)
    assert firing_times(timeline, "CriticalInventory") == [0]
    assert firing_times(timeline, "DatabasePoolSaturated") == [300]
    assert firing_times(timeline, "CacheHitRateLow") == [600]


async def test_app_error_rate_from_scraped_counters(timeline: Timeline) -> None:
    """5xx at 2% of requests (rates of scraped counters) for 5m fires AppErrorRate."""
    for i in range(12):
        ok_total, error_total = 980.0 * i, 20.0 * i
        timeline.result(
            "app-metrics",
            "prometheus",
            True,
            Sample("http_requests_total", ok_total, (("code", "200"),)),
            Sample("http_requests_total", error_total, (("code", "503"),)),
        )
        await timeline.wait(30)
    times = firing_times(timeline, "AppErrorRate")
    assert len(times) == 1
    assert 300 <= times[0] <= 360


async def test_revenue_anomaly_on_a_two_sigma_deviation(timeline: Timeline) -> None:
    """Hourly revenue steady around 100, then 300 for 30 minutes: RevenueAnomaly fires."""
    for i in range(60):  # every 30 minutes for a day and a half, then a spike
        value = 300.0 if i >= 56 else 100.0 + (i % 3)
        timeline.result("production-db", "postgres", True, Sample("revenue_per_hour", value))
        await timeline.wait(1800)
    assert firing_times(timeline, "RevenueAnomaly")
