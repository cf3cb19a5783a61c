"""Push heartbeats: what cron jobs and backups report, and whether they are late.

A job calls ``/ping/<name>`` when it succeeds, ``/ping/<name>/start`` when it
begins and ``/ping/<name>/fail`` when it fails. The book keeps the last of each
(persisted by the daemon, so a restart remembers them); ``judge`` decides,
from the book and the time, whether the heartbeat is up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sentinel.config.units import format_duration
from sentinel.results import Outcome, Sample

PingKind = Literal["success", "start", "fail"]


@dataclass(frozen=True, slots=True)
class Beat:
    """The last pings of one heartbeat."""

    success: datetime | None = None
    start: datetime | None = None
    fail: datetime | None = None
    last_duration: float | None = None

    def ping(self, kind: PingKind, at: datetime) -> Beat:
        if kind == "start":
            return replace(self, start=at)
        if kind == "fail":
            return replace(self, fail=at)
        duration = self.last_duration
        if self.start is not None and (self.success is None or self.start > self.success):
            duration = (at - self.start).total_seconds()  # this run's start to its success
        return replace(self, success=at, last_duration=duration)


def judge(
    beat: Beat, every: float, grace: float, now: datetime, watching_since: datetime
) -> Outcome:
    """Up while a success arrived within ``every + grace`` and no failure came after it.

    With no success yet, the allowance counts from when sentinel began watching,
    so a fresh install does not page before the job has had one chance to run.
    """
    allowed = every + grace
    samples: list[Sample] = []
    if beat.success is not None:
        samples.append(Sample("since_last_ping_seconds", (now - beat.success).total_seconds()))
    if beat.last_duration is not None:
        samples.append(Sample("last_duration_seconds", beat.last_duration))
    if beat.fail is not None and (beat.success is None or beat.fail > beat.success):
        return Outcome.failed("job reported failure", tuple(samples))
    since = beat.success or watching_since
    late = (now - since).total_seconds()
    if late > allowed:
        what = "no ping" if beat.success is None else "last ping"
        return Outcome.failed(
            f"{what} for {format_duration(round(late))} (expected every "
            f"{format_duration(every)}, grace {format_duration(grace)})",
            tuple(samples),
        )
    return Outcome(ok=True, samples=tuple(samples))


class HeartbeatBook:
    """Last pings by heartbeat name; the daemon persists each change."""

    def __init__(self, watching_since: datetime) -> None:
        self.watching_since = watching_since
        self._beats: dict[str, Beat] = {}

    def load(self, beats: dict[str, Beat]) -> None:
        self._beats.update(beats)

    def get(self, name: str) -> Beat:
        return self._beats.get(name, Beat())

    def ping(self, name: str, kind: PingKind, at: datetime) -> Beat:
        beat = self.get(name).ping(kind, at)
        self._beats[name] = beat
        return beat
