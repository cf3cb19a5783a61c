"""Push heartbeats: what cron jobs and backups report, and whether they are late.

A job calls ``/ping/<name>`` when it succeeds, ``/ping/<name>/start`` when it
begins and ``/ping/<name>/fail`` when it fails. The book keeps the last of each
(persisted by the daemon, so a restart remembers them); ``judge`` decides,
from the book and the time, whether the heartbeat is up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from sentinel.config.units import format_duration
from sentinel.probes.results import Outcome, Sample

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


def stamp(at: datetime) -> str:
    """A moment as a reason shows it: ``2026-03-01T02:00:00Z`` (fixed, so the reason of a
    heartbeat that stays late does not change with every run)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def judge(
    beat: Beat, every: float, grace: float, now: datetime, watching_since: datetime
) -> Outcome:
    """Up while a success arrived within ``every + grace`` and no failure came after it.

    With no success yet, the allowance counts from when sentinel began watching,
    so a fresh install does not page before the job has had one chance to run;
    until then the result is up with the note ``never pinged; grace not yet over``.
    Reasons name moments, not ages (the age is the ``since_last_ping_seconds``
    sample), so a heartbeat that stays late keeps one reason.
    """
    allowed = every + grace
    samples: list[Sample] = []
    if beat.success is not None:
        samples.append(Sample("since_last_ping_seconds", (now - beat.success).total_seconds()))
    if beat.last_duration is not None:
        samples.append(Sample("last_duration_seconds", beat.last_duration))
    if beat.fail is not None and (beat.success is None or beat.fail > beat.success):
        return Outcome.failed("job reported failure", tuple(samples))
    expected = f"expected every {format_duration(every)}, grace {format_duration(grace)}"
    if beat.success is None:
        if (now - watching_since).total_seconds() > allowed:
            return Outcome.failed(
                f"never pinged since sentinel started watching it at {stamp(watching_since)} "
                f"({expected})",
                tuple(samples),
            )
        return Outcome(ok=True, error="never pinged; grace not yet over", samples=tuple(samples))
    if (now - beat.success).total_seconds() > allowed:
        return Outcome.failed(f"no ping since {stamp(beat.success)} ({expected})", tuple(samples))
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
