"""Running one check: the probe under its timeout, turned into a Result.

``execute`` is the single place where a probe's outcome becomes a Result: it
measures the duration on the Clock, enforces the timeout, adds the ``up`` and
``duration_seconds`` samples, and turns anything a probe lets escape into a
failed result, so nothing raises into the scheduler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog

from sentinel.clock import Clock
from sentinel.config import CheckBase, format_duration
from sentinel.probes.base import Probe
from sentinel.probes.results import LatestResults, Outcome, Result, Sample

log = structlog.get_logger("sentinel.runner")

ResultSink = Callable[[Result], None]


@dataclass(frozen=True, slots=True)
class Armed:
    """A configured check with the probe built for it."""

    check: CheckBase
    type: str
    probe: Probe


async def execute(armed: Armed, clock: Clock) -> Result:
    check = armed.check
    started_at = clock.now()
    start = clock.monotonic()
    try:
        async with asyncio.timeout(check.timeout):
            outcome = await armed.probe.run()
    except TimeoutError:
        outcome = Outcome.failed(f"timeout after {format_duration(check.timeout)}")
    except Exception as exc:  # a probe bug must not stop the scheduler
        log.error("probe_crashed", check=check.name, type=armed.type, error=type(exc).__name__)
        outcome = Outcome.failed(f"probe error: {type(exc).__name__}")
    duration = clock.monotonic() - start
    samples = (
        Sample("up", 1.0 if outcome.ok else 0.0),
        Sample("duration_seconds", duration),
        *outcome.samples,
    )
    return Result(
        check=check.name,
        type=armed.type,
        ok=outcome.ok,
        started_at=started_at,
        duration=duration,
        error=outcome.error,
        samples=samples,
    )


class CheckRunner:
    """Runs checks by name, logs changes of state, and hands each result to every sink.

    ``latest`` is read for the previous result (to log only transitions) and is
    expected among the sinks.

    ``divert`` (a cluster only, sentinel/cluster/sharing.py): consulted with each result
    of a run; when it takes the result (a check probed from several places, whose run
    is one place's view), the sinks get nothing now and the combined result later,
    through :meth:`deliver`. None (SQLite, one process): every result goes to the sinks.
    """

    def __init__(self, clock: Clock, latest: LatestResults, sinks: Iterable[ResultSink]) -> None:
        self._clock = clock
        self._latest = latest
        self._sinks = tuple(sinks)
        self._armed: Mapping[str, Armed] = {}
        self.divert: Callable[[Result], bool] | None = None

    def arm(self, armed: Mapping[str, Armed]) -> None:
        self._armed = armed

    async def run(self, name: str) -> Result | None:
        armed = self._armed.get(name)
        if armed is None:
            return None
        result = await execute(armed, self._clock)
        if self.divert is not None and self.divert(result):
            return result
        self.deliver(result)
        return result

    def deliver(self, result: Result) -> None:
        """Log a change of state and hand ``result`` to every sink."""
        name = result.check
        previous = self._latest.get(name)
        if not result.ok and (previous is None or previous.ok or previous.error != result.error):
            log.warning("check_failed", check=name, type=result.type, reason=result.error)
        elif result.ok and previous is not None and not previous.ok:
            log.info("check_recovered", check=name, type=result.type)
        for sink in self._sinks:
            sink(result)
