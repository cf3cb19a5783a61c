"""The checks a scenario names, standing in for their probes.

Each gives a result every ``interval`` from the start of the replay: healthy,
failing (all runs, or an even share of them) or with the samples the scenario
set, as its events say. Pure: the replay says when, and records the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sentinel.probes.results import Labels, Result, Sample, sample_key
from sentinel.simulate.scenario import Event

DURATION = 0.05  # every simulated result takes 50 ms
EPS = 1e-6


@dataclass
class ScriptedCheck:
    type: str
    interval: float
    runs: int = 0  # results produced so far: the next is due at runs * interval
    fail: str | None = None
    share: float = 1.0  # of the runs that fail while ``fail`` is set
    failed: int = 0  # runs failed since ``fail`` was set
    since: int = 0  # runs made since ``fail`` was set
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def change(self, e: Event) -> str:
        """Take the event's change (fail, recover, samples); what the timeline says of it."""
        if e.fail is not None:
            self.fail, self.share, self.failed, self.since = e.fail, e.share, 0, 0
            some = "" if e.share >= 1 else f" ({e.share * 100:g}% of runs)"
            return f"{e.check}  check fails{some}: {e.fail}"
        if e.recover:
            self.fail = None
            return f"{e.check}  check recovers"
        shown = []
        for name, labels, value in e.samples:
            if value is None:
                self.samples.pop((name, labels), None)
            else:
                self.samples[(name, labels)] = value
            shown.append(f"{sample_key(name, labels)}={'-' if value is None else f'{value:g}'}")
        return f"{e.check}  samples {', '.join(shown)}"

    def result(self, name: str, at: datetime) -> Result:
        """The next run's result, started ``at``."""
        self.runs += 1
        ok = self.fail is None
        if not ok and self.share < 1:  # spread evenly: fail when the share's due
            self.since += 1
            ok = self.failed >= math.floor(self.since * self.share + EPS)
            self.failed += 0 if ok else 1
        samples = [Sample("up", 1.0 if ok else 0.0), Sample("duration_seconds", DURATION)]
        if ok:
            samples += [Sample(n, v, labels) for (n, labels), v in self.samples.items()]
        return Result(
            check=name,
            type=self.type,
            ok=ok,
            started_at=at,
            duration=DURATION,
            error=None if ok else self.fail,
            samples=tuple(samples),
        )
