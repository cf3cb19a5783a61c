"""Why an alert is quiet at a moment of the replay, asked of the daemon's alert shell
and cached on everything the answer depends on.

A replay asks for every live alert at every step, and the answer only changes
when a check's state, a silence, the firing set, or a maintenance window's edge
changes: :class:`QuietReasons` keys its cache on exactly those, so a long
scenario does not recompute routing for every alert at every step.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sentinel.app.alerts import Alerts
from sentinel.clock import Clock
from sentinel.config import Config
from sentinel.config.cron import crontab
from sentinel.probes.results import LatestResults
from sentinel.rules.engine import Instance

EPS = 1e-6
CACHE_MAX = 10_000  # entries before the cache starts over


@dataclass(frozen=True, slots=True)
class QuietContext:
    now: datetime
    down: frozenset[str]  # checks whose latest result failed
    phase: int  # how many maintenance edges have passed
    silences: tuple[str, ...]  # the active ones
    firing: tuple[tuple[str, dict[str, str]], ...]  # (fingerprint, labels) of firing alerts
    # alerts that may hold an SLO alert's inhibition: (fingerprint, labels, when, pending)
    held: tuple[tuple[str, dict[str, str], float, bool], ...] = ()


class QuietReasons:
    def __init__(
        self,
        config: Config,
        alerts: Alerts,
        latest: LatestResults,
        clock: Clock,
        start: datetime,
        until: float,
    ) -> None:
        self._alerts = alerts
        self._latest = latest
        self._clock = clock
        self._start_ts = start.timestamp()
        # seconds after the start when a maintenance window starts or ends
        self.edges = sorted({*maintenance_edges(config, start, until)})
        self._cache: dict[tuple[Any, ...], str | None] = {}

    def context(self) -> QuietContext:
        """What an alert's quiet reason depends on besides the alert itself."""
        now = self._clock.now()
        elapsed = now.timestamp() - self._start_ts
        return QuietContext(
            now=now,
            down=frozenset(name for name, r in self._latest.items() if not r.ok),
            phase=bisect.bisect_right(self.edges, elapsed + EPS),
            silences=tuple(s.id for s in self._alerts.silences if s.active(now)),
            firing=tuple(self._alerts.firing()),
            held=tuple(self._alerts.inhibition.held()),
        )

    def reason(self, inst: Instance, context: QuietContext | None = None) -> str | None:
        """Why this alert is suppressed now, if it is (the alert shell's ``quiet``)."""
        c = context or self.context()
        key: tuple[Any, ...] = (
            inst.fingerprint,
            c.down,
            c.phase,
            c.silences,
            tuple(fp for fp, _ in c.firing),
        )
        hold = self._alerts.inhibition.hold(inst)
        if hold is not None and c.held:  # the holds that may be in force, and how they read
            now = c.now.timestamp()
            key += (inst.state.fired_at,)
            key += tuple((fp, at, p) for fp, _, at, p in c.held if p or now - at < hold.seconds)
        if key in self._cache:
            return self._cache[key]
        reason = self._alerts.quiet(inst, set(c.down), list(c.firing), list(c.held))
        if len(self._cache) > CACHE_MAX:
            self._cache.clear()
        self._cache[key] = reason
        return reason


def maintenance_edges(config: Config, start: datetime, until: float) -> list[float]:
    """Seconds after ``start`` when a maintenance window starts, and a second after it ends
    (a window includes its last instant), within the run."""
    end = start + timedelta(seconds=until)
    edges: list[float] = []
    for window in config.maintenance:
        trigger = crontab(window.cron, ZoneInfo(window.timezone))
        at = start - timedelta(seconds=window.duration)
        for _ in range(10_000):
            fire = trigger.get_next_fire_time(None, at)
            if fire is None or fire > end:
                break
            for edge in (fire, fire + timedelta(seconds=window.duration + 1)):
                offset = (edge - start).total_seconds()
                if 0 < offset <= until:
                    edges.append(offset)
            at = fire + timedelta(seconds=1)
    return edges
