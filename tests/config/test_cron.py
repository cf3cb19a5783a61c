"""Cron expressions read as cron(8) reads them (Sunday = 0), not as APScheduler 3 does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sentinel.config.cron import crontab, day_of_week

MONDAY = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("1", "mon"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0-6", "sun,mon,tue,wed,thu,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("5,6,0", "sun,fri,sat"),
        ("MON", "MON"),
        ("*", "*"),
    ],
)
def test_numeric_days_become_names(field: str, expected: str) -> None:
    """Numeric day-of-week fields are Sunday-based, as in cron(8)."""
    assert day_of_week(field) == expected


@pytest.mark.parametrize(
    ("expr", "weekday"), [("0 9 * * 1", 0), ("0 9 * * MON", 0), ("0 9 * * 0", 6)]
)
def test_fires_on_the_day_cron_means(expr: str, weekday: int) -> None:
    """`0 9 * * 1` fires on a Monday (APScheduler's from_crontab alone says Tuesday)."""
    fire = crontab(expr, UTC).get_next_fire_time(None, MONDAY)
    assert fire is not None
    assert fire.weekday() == weekday
    assert fire.hour == 9


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("0 9 * *", "wrong number of fields"),
        ("0 9 * * 8", "out of range"),
        ("0 9 * * 5-2", "out of range"),
        ("0 9 * * */0", "bad step"),
    ],
)
def test_bad_expressions_raise_value_error(expr: str, reason: str) -> None:
    """Too few fields and days out of range are errors, not silent misreadings."""
    with pytest.raises(ValueError, match=reason):
        crontab(expr, UTC)
