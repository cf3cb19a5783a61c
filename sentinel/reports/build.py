"""Gathering a report: what it reads of a store (:class:`ReportSource`) and
:func:`build_report`, which reads it and hands plain values to the figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sentinel.config import Config
from sentinel.config.units import parse_duration
from sentinel.escalation.incidents import Incident
from sentinel.reports.figures import (
    INCIDENT_PAGE,
    P95_MAX_ROWS,
    compose_report,
    day_range,
    sample_windows,
    thin,
)


class ReportSource(Protocol):
    """What a report reads of a store (every :class:`sentinel.store.Store` has it)."""

    async def uptime_days(
        self, since_day: int, checks: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int, int, int, float]]]: ...

    async def durations(self, check: str, since: float, until: float) -> list[float]: ...

    async def incidents(
        self, *, limit: int = 50, offset: int = 0, since: float | None = None
    ) -> list[Incident]: ...

    async def notification_counts(
        self, since: float, until: float
    ) -> dict[tuple[str, str], int]: ...

    async def slo_days(
        self, slo: str, since_minute: int, until_minute: int
    ) -> list[tuple[int, int, int]]: ...


async def build_report(
    store: ReportSource, config: Config, now: datetime, period_seconds: float
) -> dict[str, Any]:
    """The report for ``[now - period, now)`` over the configured checks (JSON-safe)."""
    if period_seconds <= 0:
        raise ValueError("the period must be positive")
    end = now.timestamp()
    start = end - period_seconds
    checks = [c.name for c in config.checks]
    first, _ = day_range(start, end)
    rollups = await store.uptime_days(first, checks) if checks else {}
    windows = sample_windows(start, end)
    latencies: dict[str, list[float]] = {}
    for name in checks:
        values: list[float] = []
        for a, b in windows:
            values += await store.durations(name, a, b)
        latencies[name] = thin(values, P95_MAX_ROWS)
    incidents: list[Incident] = []
    offset = 0
    while True:
        page = await store.incidents(limit=INCIDENT_PAGE, offset=offset, since=start)
        incidents += page
        if len(page) < INCIDENT_PAGE:
            break
        offset += INCIDENT_PAGE
    minutes = math.floor(start / 60), math.ceil(end / 60)
    slo_days = {s.name: await store.slo_days(s.name, *minutes) for s in config.slos}
    return compose_report(
        start=start,
        end=end,
        checks=checks,
        rollups=rollups,
        latencies=latencies,
        sampled=len(windows) > 1,
        incidents=incidents,
        notifications=await store.notification_counts(start, end),
        slos=[(s.name, s.ratio) for s in config.slos],
        slo_days=slo_days,
    )


def parse_period(text: str) -> float:
    """``--period`` as seconds (``1d``, ``7d``, ``4w``); ValueError with a message."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"period must be longer than zero, got {text!r}")
    return seconds
