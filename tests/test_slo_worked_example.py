"""docs/slos.md's worked example holds: the example config's availability SLO (99.9% over
30d on production-api, probed every 10 s) fires what the docs say, when they say, on the
engine's own counters and pair conditions (the rule tick every 5 s, no clock read)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from sentinel.config import load_config
from sentinel.config.slo import Slo
from sentinel.rules.slo import Counters, pair_holds
from tests.examples import EXAMPLE_ENV, PROJECT_EXAMPLE

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()  # a Monday, 09:00 UTC
TICK = 5.0
MIN = 60.0
HOUR = 3600.0


def example() -> tuple[Slo, float]:
    config = load_config(PROJECT_EXAMPLE, EXAMPLE_ENV)
    slo = next(s for s in config.slos if s.name == "production-api-availability")
    check = next(c for c in config.checks if c.name == "production-api")
    return slo, check.interval


class Timeline:
    """Runs of one check every ``interval`` from three healthy days before T0 on; a run
    at ``t`` seconds after T0 is bad when ``bad(n, t)`` (n counts runs from T0)."""

    def __init__(self, slo: Slo, interval: float, bad: Callable[[int, float], bool]) -> None:
        self.slo, self.interval, self.bad = slo, interval, bad
        self.counters = Counters(slo.longest())
        self.next = T0 - 3 * 86400
        self.pairs = slo.burn_alerts()

    def holds(self, at: float) -> set[str]:
        """The pairs that hold at ``T0 + at`` (runs up to then counted)."""
        while self.next <= T0 + at:
            since = self.next - T0
            n = round(since / self.interval)
            self.counters.add(self.next, not (since >= 0 and self.bad(n, since)))
            self.next += self.interval
        ratio = self.slo.ratio
        return {n for n, a in self.pairs.items() if pair_holds(a, self.counters, ratio, T0 + at)}

    def changes(self, until: float) -> list[tuple[float, str, str]]:
        """(seconds after T0, pair, "fires" or "resolves") on each tick up to ``until``."""
        out, before = [], set[str]()
        at = 0.0
        while at <= until:
            now = self.holds(at)
            out += [(at, p, "fires") for p in sorted(now - before)]
            out += [(at, p, "resolves") for p in sorted(before - now)]
            before, at = now, at + TICK
        return out


def test_the_example_probes_often_enough_for_its_slo() -> None:
    """The budget is 0.1% of 259,200 runs a month; the 1h window holds 360 runs."""
    slo, interval = example()
    assert (slo.objective, slo.window, interval) == (99.9, 30 * 86400, 10.0)
    assert slo.burn_alerts()["ticket"].severity == "medium"


def test_a_five_minute_outage() -> None:
    """09:00-09:05 every probe fails: page-fast fires at 09:00:50 (6 failed runs: 1.44%
    of the hour's 360), page-slow at 09:02 (13), the ticket at 09:04:10 (26); they
    resolve as their short windows clear: 09:09, 09:34 and 15:04."""
    slo, interval = example()
    line = Timeline(slo, interval, lambda n, t: t < 5 * MIN)
    assert line.changes(40 * MIN) == [
        (50.0, "page-fast", "fires"),
        (120.0, "page-slow", "fires"),
        (250.0, "ticket", "fires"),
        (9 * MIN, "page-fast", "resolves"),
        (34 * MIN, "page-slow", "resolves"),
    ]
    assert "ticket" in line.holds(6 * HOUR + 3 * MIN)
    assert "ticket" not in line.holds(6 * HOUR + 4 * MIN)


def test_one_probe_in_a_hundred_failing() -> None:
    """From 09:00 one run in 100 fails (10x): page-fast never fires; page-slow fires at
    12:20 (13 failed runs in 6h), the ticket at 15:56:40 (26 in 3d); page-slow then
    resolves and fires again as its 30m window holds one failed run or two."""
    slo, interval = example()
    line = Timeline(slo, interval, lambda n, t: n % 100 == 0)
    changes = line.changes(7 * HOUR)
    assert all(pair != "page-fast" for _, pair, _ in changes)
    fired = [(at, pair) for at, pair, what in changes if what == "fires"]
    assert fired[0] == (200 * MIN, "page-slow")
    assert (25 * 1000.0, "ticket") in fired  # the 26th failed run: 15:56:40
    assert (200 * MIN + 13 * MIN, "page-slow", "resolves") in changes  # 12:33
    assert (13_000.0, "page-slow") in fired  # 12:36:40, the 14th failed run


def test_at_thirty_seconds_two_failed_probes_in_an_hour_page() -> None:
    """Why the example probes every 10 s: at 30 s the 1h window holds 120 runs, so one
    failed run reads 8.3x and two 16.7x: one run in 100 failing (10x) pages page-fast
    at the second failure, which a 10 s probe would not."""
    slo, _ = example()
    line = Timeline(slo, 30.0, lambda n, t: n % 100 == 0)
    fired = [(at, pair) for at, pair, what in line.changes(2 * HOUR) if what == "fires"]
    assert fired[0] == (50 * MIN, "page-fast")


@pytest.mark.parametrize(("factor", "bad"), [(14.4, "1.44%"), (6.0, "0.60%"), (1.0, "0.10%")])
def test_the_bad_share_each_pair_needs(factor: float, bad: str) -> None:
    slo, _ = example()
    assert f"{factor * (1 - slo.ratio) * 100:.2f}%" == bad
