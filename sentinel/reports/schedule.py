"""Scheduled reports: each ``reports:`` entry fires on its cron, in its time zone.

:class:`ReportScheduler` computes every entry's next fire time with
APScheduler's :class:`CronTrigger` from the clock's now, sleeps on the clock
until the earliest, builds the report for the entry's ``period`` ending at the
fire time, and hands ``send(name, targets, Notice(kind="report", ...))`` the
summary (:func:`sentinel.reports.render.summary_text`). The daemon's ``send`` puts the
notice in the outbox, one row per route of each target.

A fire time missed while sentinel was down is not caught up: the next one is
awaited. A report that cannot be built or sent is logged and skipped; the next
fire still happens. Naps are cut to :data:`MAX_NAP` so that a wall clock that
jumped (suspend, a large NTP step) is noticed within the hour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from apscheduler.triggers.cron import CronTrigger

from sentinel.clock import Clock
from sentinel.config import Config
from sentinel.config.cron import crontab
from sentinel.config.models import Report
from sentinel.notify.base import Notice
from sentinel.reports.build import ReportSource, build_report
from sentinel.reports.render import summary_text

log = structlog.get_logger("sentinel.reports")

Send = Callable[[str, Sequence[str], Notice], Awaitable[None]]
MAX_NAP = 3600.0  # seconds slept at most before the next fire time is computed again
EARLY = 0.5  # seconds: a wake-up this close to a fire time counts as on time
_TICK = timedelta(microseconds=1)


class ReportScheduler:
    def __init__(self, config: Config, store: ReportSource, clock: Clock, send: Send) -> None:
        self.config = config  # the daemon may swap it on reload; read at each fire
        self._store = store
        self._clock = clock
        self._send = send
        self._triggers: dict[tuple[str, str], CronTrigger] = {}
        self._last: dict[str, datetime] = {}  # report name -> its last fire time
        self.fired = 0

    def _trigger(self, entry: Report) -> CronTrigger:
        key = (entry.cron, entry.timezone)
        if key not in self._triggers:
            self._triggers[key] = crontab(entry.cron, ZoneInfo(entry.timezone))
        return self._triggers[key]

    def next_fire(self, entry: Report, now: datetime) -> datetime | None:
        """The entry's first fire time at or after ``now`` and after its last fire (UTC)."""
        last = self._last.get(entry.name)
        start = now if last is None else max(now, last + _TICK)
        at: datetime | None = self._trigger(entry).get_next_fire_time(None, start)
        return None if at is None else at.astimezone(now.tzinfo)

    def upcoming(self, now: datetime) -> list[tuple[datetime, Report]]:
        """Each entry's next fire time, earliest first."""
        out = []
        for entry in self.config.reports:
            at = self.next_fire(entry, now)
            if at is not None:
                out.append((at, entry))
        return sorted(out, key=lambda pair: pair[0])

    async def run(self) -> None:
        """Fire reports until cancelled; returns at once when none are configured."""
        while True:
            now = self._clock.now()
            upcoming = self.upcoming(now)
            if not upcoming:
                return
            due = [(at, e) for at, e in upcoming if (at - now).total_seconds() <= EARLY]
            if not due:
                wait = (upcoming[0][0] - now).total_seconds()
                await self._clock.sleep(min(wait, MAX_NAP))
                continue
            for at, entry in due:
                self._last[entry.name] = at
                await self.fire(entry, at)

    async def fire(self, entry: Report, at: datetime) -> None:
        """Build the entry's report for the period ending at ``at`` and send its summary."""
        try:
            report = await build_report(self._store, self.config, at, entry.period)
            report["name"] = entry.name
            notice = Notice(kind="report", at=at.timestamp(), text=summary_text(report))
            await self._send(entry.name, list(entry.notify), notice)
        except Exception as exc:  # the next fire must still happen
            log.error("report_failed", report=entry.name, error=f"{type(exc).__name__}: {exc}")
            return
        self.fired += 1
        log.info("report_sent", report=entry.name, targets=list(entry.notify), at=at.isoformat())
