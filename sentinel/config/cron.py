"""Five-field cron expressions as cron(8) reads them, on APScheduler's CronTrigger.

APScheduler 3's ``CronTrigger.from_crontab`` numbers the days of the week from
Monday = 0, so ``0 9 * * 1`` would fire on Tuesdays. Standard cron numbers
them from Sunday = 0 (and 7 is Sunday too). Numeric day-of-week fields are
therefore rewritten to day names before APScheduler sees them; names (``MON``)
pass through unchanged.

:func:`check_cron` and :func:`check_timezone` validate the config's ``cron`` and
``timezone`` fields (maintenance windows, reports, on-call rotations).
"""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from sentinel.config.quote import clip_quoted, shown

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _days(item: str) -> list[int]:
    """One comma-separated item of a numeric day-of-week field, as cron days 0-6."""
    base, _, step_text = item.partition("/")
    step = int(step_text) if step_text else 1
    if step < 1:
        raise ValueError(f"bad step in day of week {item!r}")
    if base == "*":
        first, last = 0, 6
    elif "-" in base:
        a, b = base.split("-", 1)
        first, last = int(a), int(b)
    else:
        first = int(base)
        last = 7 if step_text else first
    if not (0 <= first <= 7 and 0 <= last <= 7) or first > last:
        raise ValueError(f"day of week {item!r} out of range 0-7")
    return sorted({d % 7 for d in range(first, last + 1, step)})


def day_of_week(field: str) -> str:
    """A cron day-of-week field in APScheduler's terms (names, Sunday-based numbers)."""
    if field == "*" or any(c.isalpha() for c in field):
        return field
    days: set[int] = set()
    for item in field.split(","):
        days.update(_days(item))
    return ",".join(_NAMES[d] for d in sorted(days))


def crontab(expr: str, timezone: tzinfo | None = None) -> CronTrigger:
    """A trigger for a five-field cron expression read as cron(8) reads it."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    try:
        fields[4] = day_of_week(fields[4])
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {shown(value)}: expected one like Europe/Berlin"
        ) from None
    return value


def check_cron(value: str) -> str:
    try:
        crontab(value)
    except ValueError as exc:
        raise ValueError(
            f"invalid cron expression {shown(value)}: {clip_quoted(str(exc))}"
        ) from None
    return value
