"""In-memory windows of a check's samples, for rule expressions.

Each (sample name, label set) keeps its points, oldest first, for as long as
the longest window (plus offset) of the rules that read the check, and at
least the 5-minute lookback of instant selectors.
"""

from __future__ import annotations

from collections import deque

from sentinel.probes.results import Labels, Result
from sentinel.rules.evaluate import LOOKBACK, Points


class CheckSeries:
    def __init__(self, retention: float = LOOKBACK) -> None:
        self.retention = max(retention, LOOKBACK)
        self._series: dict[str, dict[Labels, deque[tuple[float, float]]]] = {}

    def add(self, result: Result) -> None:
        t = result.started_at.timestamp()
        horizon = t - self.retention
        for sample in result.samples:
            by_labels = self._series.setdefault(sample.name, {})
            points = by_labels.get(sample.labels)
            if points is None:
                points = by_labels[sample.labels] = deque()
            points.append((t, float(sample.value)))
            while points and points[0][0] < horizon:
                points.popleft()

    def points(self, name: str, start: float, end: float) -> dict[Labels, Points]:
        out: dict[Labels, Points] = {}
        for labels, points in self._series.get(name, {}).items():
            inside = [p for p in points if start <= p[0] <= end]
            if inside:
                out[labels] = inside
        return out
