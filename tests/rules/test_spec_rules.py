"""The spec's rules behave as written: each driven by a timeline on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel.clock import FakeClock
from sentinel.config import load_config
from sentinel.results import Result, Sample
from sentinel.rules.engine import RuleEngine

EXAMPLE = Path(__file__).parent.parent.parent / "config" / "sentinel.example.yaml"
ENV = {
    name: "x"
    for name in (
        "SENTINEL_API_TOKEN",
        "DATABASE_URL",
        "REDIS_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_WEBHOOK_URL",
        "PAGERDUTY_ROUTING_KEY",
        "SENDGRID_API_KEY",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
    )
}


class Timeline:
    def __init__(self) -> None:
        self.clock = FakeClock(start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        self.engine = RuleEngine(self.clock)
        self.engine.configure(load_config(EXAMPLE, ENV))
        self.fired: list[tuple[int, str, str]] = []
        self.second = 0

    def result(self, check: str, kind: str, ok: bool, *samples: Sample) -> None:
        r = Result(
            check, kind, ok, self.clock.now(), 0.2, None, (Sample("up", float(ok)), *samples)
        )
        for t in self.engine.observe(r):
            if t.event in ("firing", "resolved"):
                self.fired.append((self.second, t.instance.rule, t.event))

    async def wait(self, seconds: int) -> None:
        await self.clock.advance(seconds)
        self.second += seconds
        for t in self.engine.tick():
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
    """A certificate with 10 days left fires CertificateExpiring; a failed heartbeat BackupMissed."""
    timeline.result("production-tls", "tls", True, Sample("cert_expiry_seconds", 10 * 86400.0))
    timeline.result("nightly-backup", "heartbeat", False)
    rules = {r for _, r, e in timeline.fired if e == "firing"}
    assert {"CertificateExpiring", "BackupMissed"} <= rules
