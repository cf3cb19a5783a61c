"""What a probe run produces, and the latest result of every check.

A :class:`Result` is immutable and flows one way: probe -> scheduler ->
(metrics, history store, later the rule engine).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

Labels = tuple[tuple[str, str], ...]


def sample_key(name: str, labels: Labels) -> str:
    """A sample's name as Prometheus writes it: ``up``, ``http_status{code="200"}``."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


@dataclass(frozen=True, slots=True)
class Sample:
    """One number a probe observed, e.g. ``key_length{key="queue"} 1001``."""

    name: str
    value: float
    labels: Labels = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a probe reports: success or a short reason, and its samples."""

    ok: bool
    error: str | None = None
    samples: tuple[Sample, ...] = ()

    @staticmethod
    def failed(reason: str, samples: tuple[Sample, ...] = ()) -> Outcome:
        return Outcome(ok=False, error=reason, samples=samples)


@dataclass(frozen=True, slots=True)
class Result:
    """One run of one check, with ``up`` and ``duration_seconds`` among its samples."""

    check: str
    type: str
    ok: bool
    started_at: datetime
    duration: float
    error: str | None = None
    samples: tuple[Sample, ...] = field(default=())

    def sample(self, name: str, labels: Labels = ()) -> float | None:
        """The value of one sample, or None when the probe did not report it."""
        for s in self.samples:
            if s.name == name and s.labels == labels:
                return s.value
        return None


class LatestResults(Mapping[str, Result]):
    """The most recent result of every check, read by metrics and the status API.

    Writers replace whole immutable results, so readers in other threads (the
    /metrics renderer) can take ``list(items())`` without a lock.
    """

    def __init__(self) -> None:
        self._by_check: dict[str, Result] = {}

    def record(self, result: Result) -> None:
        self._by_check[result.check] = result

    def retain(self, names: set[str]) -> None:
        """Forget checks that are no longer configured."""
        for name in list(self._by_check):
            if name not in names:
                del self._by_check[name]

    def forget(self, names: Iterable[str]) -> None:
        """Several replicas: checks another member probes now (their latest result is
        that member's to show: /metrics here must not keep a stale ``up``)."""
        for name in names:
            self._by_check.pop(name, None)

    def snapshot(self) -> list[Result]:
        return list(self._by_check.values())

    def __getitem__(self, key: str) -> Result:
        return self._by_check[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_check)

    def __len__(self) -> int:
        return len(self._by_check)


class RecentRuns:
    """The last few runs of every check (duration, ok), for the status page's sparklines."""

    def __init__(self, size: int = 30) -> None:
        self._size = size
        self._by_check: dict[str, deque[tuple[float, bool]]] = {}

    def record(self, result: Result) -> None:
        runs = self._by_check.get(result.check)
        if runs is None:
            runs = self._by_check[result.check] = deque(maxlen=self._size)
        runs.append((result.duration, result.ok))

    def get(self, check: str) -> list[tuple[float, bool]]:
        return list(self._by_check.get(check, ()))

    def retain(self, names: set[str]) -> None:
        for name in list(self._by_check):
            if name not in names:
                del self._by_check[name]
