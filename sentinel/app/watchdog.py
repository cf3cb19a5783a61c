"""The dead-man's switch: sentinel requests ``watchdog.url`` every ``watchdog.every``,
but only while it is healthy, so that a dead *or wedged* sentinel stops pinging and
the service behind the URL (healthchecks.io, Cronitor, Dead Man's Snitch, Uptime
Kuma's push monitor) pages someone.

Healthy means, judged by :func:`judge` from :class:`Observations` taken at one
instant:

- the scheduler runs and its tick (every second) is at most ``LATENESS_BOUND``
  old: checks are being started;
- the store accepts writes: the last history write did not fail;
- every notification lane (one worker per channel) is alive.

The event loop itself is covered by the ping being sent from it: a blocked loop
sends nothing. The URL is a secret (it is the switch's credential): it is never
logged, and failures are reported by their kind only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
import structlog

from sentinel.clock import Clock
from sentinel.config.models import Watchdog as WatchdogConfig
from sentinel.metrics import Metrics
from sentinel.notify.dispatcher import Dispatcher
from sentinel.probes.scheduler import Scheduler
from sentinel.store.writer import ResultWriter

log = structlog.get_logger("sentinel.watchdog")
LATENESS_BOUND = 5.0  # seconds without a scheduler tick (it ticks every second)
PING_TIMEOUT = 10.0  # at most; never longer than the interval between pings


@dataclass(frozen=True, slots=True)
class Observations:
    """What the watchdog looks at, read at one instant (monotonic seconds)."""

    scheduler_running: bool
    last_tick: float | None  # when the scheduler last ticked, None before the first tick
    store_failing: bool  # the last write of history failed
    dead_lanes: Sequence[str] = ()  # notification channels whose worker has ended


def observe(
    scheduler: Scheduler, writer: ResultWriter, dispatcher: Dispatcher, clock: Clock
) -> Observations:
    """The daemon's parts, read now."""
    age = scheduler.last_tick_age()
    return Observations(
        scheduler_running=scheduler.running,
        last_tick=None if age is None else clock.monotonic() - age,
        store_failing=writer.failing,
        dead_lanes=dispatcher.dead_lanes(),
    )


def judge(obs: Observations, now: float, bound: float = LATENESS_BOUND) -> str | None:
    """None when sentinel is healthy at ``now``; otherwise why not, in a few words."""
    if not obs.scheduler_running:
        return "scheduler not running"
    if obs.last_tick is None:
        return "scheduler has not ticked yet"
    if now - obs.last_tick > bound:
        return f"scheduler stalled: no tick for over {bound:g}s"
    if obs.store_failing:
        return "store not writable"
    if obs.dead_lanes:
        return "notification worker stopped: " + ", ".join(sorted(obs.dead_lanes))
    return None


class Watchdog:
    """Pings while healthy; reads its settings each round, so a reload applies them."""

    def __init__(
        self,
        settings: Callable[[], WatchdogConfig],
        observe: Callable[[], Observations],
        clock: Clock,
        session: aiohttp.ClientSession,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._observe = observe
        self._clock = clock
        self._session = session
        self._pings = {o: metrics.watchdog_pings.labels(o) for o in ("ok", "failed")}
        self._skipped = metrics.watchdog_pings.labels("skipped_unhealthy")
        self._unhealthy: str | None = None

    async def run(self) -> None:
        """Ping at once, then every ``every``; forever (cancel to stop)."""
        while True:
            settings = self._settings()
            if settings.url.get_secret_value():
                await self.round(settings)
            await self._clock.sleep(settings.every)

    async def round(self, settings: WatchdogConfig) -> bool:
        """One judgement and, if healthy, one ping; True when the ping was accepted."""
        reason = judge(self._observe(), self._clock.monotonic())
        if reason is not None:
            self._skipped.inc()
            if reason != self._unhealthy:
                log.warning("watchdog_ping_withheld", reason=reason)
            self._unhealthy = reason
            return False
        if self._unhealthy is not None:
            log.info("watchdog_healthy_again", was=self._unhealthy)
            self._unhealthy = None
        failure = await self._ping(settings)
        if failure is None:
            self._pings["ok"].inc()
            return True
        self._pings["failed"].inc()
        log.warning("watchdog_ping_failed", reason=failure)
        return False

    async def _ping(self, settings: WatchdogConfig) -> str | None:
        """GET the URL; None on a 2xx answer, else a short reason that never holds it."""
        timeout = aiohttp.ClientTimeout(total=min(PING_TIMEOUT, settings.every))
        try:
            async with self._session.get(
                settings.url.get_secret_value(), timeout=timeout, allow_redirects=True
            ) as resp:
                await resp.read()
                return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.InvalidURL:
            return "invalid url"
        except (aiohttp.ClientError, OSError) as exc:
            return f"network error ({type(exc).__name__})"
