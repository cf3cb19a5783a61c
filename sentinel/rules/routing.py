"""Why an alert should stay quiet right now: a dependency is down, or maintenance.

Pure functions of the config, the time and which checks are down; the daemon
marks alerts with the reason (they stay visible) and, once notifications
exist, sends nothing for them. Resolutions always go through.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from sentinel.config.models import Config, Maintenance


def in_maintenance(window: Maintenance, now: datetime) -> bool:
    """Has the window's cron fired within the last ``duration``? Cron times are read in
    the window's time zone, so a 02:00 window stays at 02:00 local across DST changes."""
    trigger = CronTrigger.from_crontab(window.cron, timezone=ZoneInfo(window.timezone))
    start = trigger.get_next_fire_time(None, now - timedelta(seconds=window.duration))
    return start is not None and start <= now


def labels_match(match: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in match.items())


def quiet_reason(
    config: Config, check: str, labels: dict[str, str], now: datetime, down: set[str]
) -> str | None:
    """The first reason this check's alerts are suppressed, or None."""
    for dependency in config.dependencies.get(check, []):
        if dependency in down:
            return f"dependency {dependency} is down"
    for window in config.maintenance:
        if labels_match(window.match, labels) and in_maintenance(window, now):
            return f"maintenance {window.name}"
    return None
