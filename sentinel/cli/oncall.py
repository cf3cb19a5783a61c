"""``sentinel oncall``: who is on call now and the next handoffs, as a table.

The command reads the clock once (or takes ``--at``) and hands the time to the
pure functions of :mod:`sentinel.escalation.oncall`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sentinel.clock import Clock, SystemClock
from sentinel.config import Config
from sentinel.escalation.oncall import handoffs, on_call
from sentinel.tables import render_table

HEADER = ("SCHEDULE", "ON CALL", "NEXT HANDOFF", "TO", "WHY")
COUNT = 3


def oncall_command(args: argparse.Namespace, config: Config, clock: Clock | None = None) -> int:
    """Print the table; exit 0, or 2 with a message for an unknown schedule or a bad ``--at``."""
    if args.at is None:
        at = (clock or SystemClock()).now()
    else:
        parsed = parse_at(args.at)
        if parsed is None:
            print(
                f"--at {args.at!r}: not an ISO 8601 time; use e.g. 2026-03-29T09:00:00Z "
                "or 2026-03-29T10:00:00+01:00 (no offset means UTC)",
                file=sys.stderr,
            )
            return 2
        at = parsed
    if args.schedule is not None and args.schedule not in config.oncall:
        known = ", ".join(config.oncall) or "none are configured"
        print(f"unknown schedule {args.schedule!r} (known: {known})", file=sys.stderr)
        return 2
    if not config.oncall:
        print("no on-call schedules in the config (the oncall: section is empty)", file=sys.stderr)
        return 2
    names = [args.schedule] if args.schedule is not None else list(config.oncall)
    rows: list[tuple[str, ...]] = []
    for name in names:
        rotation = config.oncall[name]
        tz = ZoneInfo(rotation.timezone)
        upcoming = handoffs(rotation, at, COUNT)
        now = on_call(rotation, at)
        if not upcoming:
            rows.append((name, now, "-", "-", "nobody else is ever on call"))
        for i, h in enumerate(upcoming):
            first = i == 0
            rows.append(
                (name if first else "", now if first else "", local(h.at, tz), h.who, h.reason)
            )
    print(render_table(HEADER, rows))
    return 0


def parse_at(text: str) -> datetime | None:
    """An ISO 8601 time as an aware datetime (naive means UTC), or None if it is not one."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def local(at: datetime, tz: ZoneInfo) -> str:
    """``2026-03-30 09:00+01:00 BST``: the schedule's wall time, its offset and its zone's name."""
    moment = at.astimezone(tz)
    return f"{moment.isoformat(sep=' ', timespec='minutes')} {moment.tzname()}"
