"""Metrics: one object on an injected registry; the output passes promtool."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from sentinel.clock import FakeClock
from sentinel.metrics import PIECE, Metrics, pieces
from sentinel.probes.results import LatestResults, Result, Sample
from sentinel.rules.slo import SloStatus
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.rules.slo_table import SloTable
from sentinel.store.sqlite import SqliteStore
from tests.deploy.promtool import promtool
from tests.rules.test_slo_table import NOW as SLO_NOW
from tests.rules.test_slo_table import varied

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def result(check: str, ok: bool, *samples: Sample) -> Result:
    return Result(
        check=check,
        type="http",
        ok=ok,
        started_at=NOW,
        duration=0.25,
        error=None if ok else "connection refused",
        samples=(Sample("up", float(ok)), Sample("duration_seconds", 0.25), *samples),
    )


def populated() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    latest = LatestResults()
    metrics = Metrics(registry, latest, "1.2.3")
    for r in (
        result("api", True, Sample("status_code", 200), Sample("uptime_seconds", 12.5)),
        result("db", False),
        result(
            "cache",
            True,
            Sample("key_length", 1001, (("key", "image-queue"),)),
            Sample("key_length", 3, (("check", "other"),)),
        ),
    ):
        latest.record(r)
        metrics.record_result(r)
    metrics.lateness(0.003)
    metrics.skipped_overlap()
    return metrics, registry


def parsed(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The rendered page, read back by prometheus-client's own parser."""
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_per_check_series_come_from_the_latest_results() -> None:
    """Up, last duration and samples are exported per check with their labels."""
    metrics, _ = populated()
    series = parsed(metrics)

    def get(name: str, labels: dict[str, str]) -> float | None:
        return series.get((name, frozenset(labels.items())))

    assert get("sentinel_check_up", {"check": "api", "type": "http"}) == 1
    assert get("sentinel_check_up", {"check": "db", "type": "http"}) == 0
    assert get("sentinel_check_last_duration_seconds", {"check": "db", "type": "http"}) == 0.25
    assert get("sentinel_check_sample", {"check": "api", "sample": "status_code"}) == 200
    assert (
        get(
            "sentinel_check_sample",
            {"check": "cache", "sample": "key_length", "key": "image-queue"},
        )
        == 1001
    )
    # a sample label that collides with sentinel's own is renamed, not lost
    assert (
        get(
            "sentinel_check_sample",
            {"check": "cache", "sample": "key_length", "exported_check": "other"},
        )
        == 3
    )


def test_label_values_are_escaped_and_names_sanitised() -> None:
    """Quotes, backslashes and newlines in label values survive; odd label names are fixed."""
    latest = LatestResults()
    metrics = Metrics(CollectorRegistry(), latest, "1")
    odd = 'a "quoted" \\ value\nnext'
    latest.record(result("db", True, Sample("rows", 7, (("status", odd), ("9bad-name", "x")))))
    labels = {"check": "db", "sample": "rows", "status": odd, "_9bad_name": "x"}
    assert parsed(metrics)[("sentinel_check_sample", frozenset(labels.items()))] == 7


def test_run_counters_and_type_histogram() -> None:
    """Runs are counted by type and result; durations go to a per-type histogram."""
    _, registry = populated()
    get = registry.get_sample_value
    assert get("sentinel_check_runs_total", {"type": "http", "result": "ok"}) == 2
    assert get("sentinel_check_runs_total", {"type": "http", "result": "failed"}) == 1
    assert get("sentinel_check_duration_seconds_count", {"type": "http"}) == 3
    assert get("sentinel_scheduler_skipped_runs_total", {"reason": "overlap"}) == 1
    assert (
        get(
            "sentinel_build_info",
            {"version": "1.2.3", "python": __import__("platform").python_version()},
        )
        == 1
    )
    assert get("process_resident_memory_bytes") is not None


def test_exposition_passes_promtool_check_metrics() -> None:
    """promtool check metrics finds no problem in sentinel's /metrics output (SLOs too)."""
    tool = promtool()
    metrics, _ = populated()
    engine = varied()
    table = SloTable.of(engine.slos, engine.statuses(SLO_NOW), SLO_NOW.timestamp())
    metrics.watch_slos(lambda: table)
    text = metrics.render()
    proc = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


# -- SLOs (issue 19) ---------------------------------------------------------------------


class SloFamilies(Collector):
    """The SLO series as prometheus-client's families from status objects: how /metrics
    wrote them before they were written as text (sentinel/metrics.py at 8398510)."""

    def __init__(self, statuses: Sequence[SloStatus]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[Metric]:
        objective = GaugeMetricFamily(
            "sentinel_slo_objective", "Share of runs that must be good.", labels=["slo"]
        )
        attainment = GaugeMetricFamily(
            "sentinel_slo_attainment_ratio",
            "Share of good runs over the SLO window (absent: no runs yet).",
            labels=["slo"],
        )
        budget = GaugeMetricFamily(
            "sentinel_slo_error_budget_remaining_ratio",
            "Error budget left over the SLO window: 1 untouched, 0 spent, below 0 overspent.",
            labels=["slo"],
        )
        burn = GaugeMetricFamily(
            "sentinel_slo_burn_rate",
            "Bad share over the allowed bad share, per window (1 spends the budget exactly).",
            labels=["slo", "window"],
        )
        for s in self._statuses:
            objective.add_metric([s.name], s.objective)
            if s.attainment is not None:
                attainment.add_metric([s.name], s.attainment)
            if s.budget_remaining is not None:
                budget.add_metric([s.name], s.budget_remaining)
            for window, rate in s.burn.items():
                if rate is not None:
                    burn.add_metric([s.name, window], rate)
        yield from (objective, attainment, budget, burn)


Families = dict[str, tuple[str, str, list[tuple[str, tuple[tuple[str, str], ...], float]]]]


def slo_families(text: str) -> Families:
    """The page's SLO families read back by prometheus-client's parser: help, type and
    every sample (name, labels, value)."""
    return {
        f.name: (
            f.documentation,
            f.type,
            sorted((s.name, tuple(sorted(s.labels.items())), s.value) for s in f.samples),
        )
        for f in text_string_to_metric_families(text)
        if f.name.startswith("sentinel_slo")
    }


def test_slo_series_written_as_text_say_what_the_families_said() -> None:
    """The SLO series written as text from the keeper's table parse to the families
    prometheus-client wrote from the statuses: names, help, type, labels and values, for
    SLOs with and without runs (a None figure is left out), calendar months in a zone,
    firing and warming pairs and windows of their own."""
    engine = varied()
    statuses = engine.statuses(SLO_NOW)
    registry = CollectorRegistry()
    registry.register(SloFamilies(statuses))
    metrics = Metrics(CollectorRegistry(), LatestResults(), "1.2.3")
    table = SloTable.of(engine.slos, statuses, SLO_NOW.timestamp())
    metrics.watch_slos(lambda: table)

    before = slo_families(generate_latest(registry).decode())
    after = slo_families(metrics.render().decode())

    assert after == before
    samples = {(s[0], s[1]) for family in after.values() for s in family[2]}
    assert ("sentinel_slo_objective", (("slo", "idle"),)) in samples
    assert ("sentinel_slo_attainment_ratio", (("slo", "idle"),)) not in samples  # no runs
    assert ("sentinel_slo_burn_rate", (("slo", "db-weekly"), ("window", "7d"))) in samples
    assert ("sentinel_slo_burn_rate", (("slo", "db-availability"), ("window", "3d"))) not in (
        samples  # not one of its windows
    )
    assert len(samples) == 6 * 3 - 2 + 3 * 5 + 4 + 7  # idle: its objective, no burn rate


def test_without_an_slo_keeper_the_page_has_no_slo_families() -> None:
    metrics = Metrics(CollectorRegistry(), LatestResults(), "1.2.3")
    assert slo_families(metrics.render().decode()) == {}
    metrics.watch_slos(SloTable.empty)  # a keeper with no SLOs: the families, empty
    assert [f[2] for f in slo_families(metrics.render().decode()).values()] == [[]] * 4


async def test_a_snapshot_renders_the_slo_figures_it_was_taken_with(tmp_path: Path) -> None:
    """The keeper replaces its table whole: a render in a worker thread reads the table of
    its snapshot (taken on the loop), never one half refreshed."""
    engine = varied()
    clock = FakeClock(SLO_NOW)
    keeper = SloKeeper(engine, SqliteStore(str(tmp_path / "unopened.db")), clock)
    keeper.refresh()
    metrics = Metrics(CollectorRegistry(), LatestResults(), "1.2.3")
    metrics.watch_slos(lambda: keeper.table)
    snapshot = metrics.snapshot()
    key = ("sentinel_slo_attainment_ratio", frozenset({("slo", "api-availability")}))
    at_snapshot = parsed_page(metrics.render(snapshot))[key]

    await clock.advance(60)
    for _ in range(100):
        engine.observe(Result("api", "http", True, clock.now(), 0.1), clock.now())
    keeper.refresh()

    assert parsed_page(metrics.render(snapshot))[key] == at_snapshot
    assert parsed_page(metrics.render())[key] > at_snapshot


def parsed_page(page: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(page.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_pieces_join_to_the_lines_and_none_grows_past_its_size_and_a_line() -> None:
    lines = [f"series_{i} {'x' * (i % 97)}\n" for i in range(3000)]
    made = list(pieces(lines, size=4096))
    assert b"".join(made) == "".join(lines).encode()
    longest = max(len(line) for line in lines)
    assert all(4096 <= len(piece) < 4096 + longest for piece in made[:-1])
    assert 0 < len(made[-1]) < 4096 + longest
    assert list(pieces([])) == []


def test_a_big_page_is_made_in_pieces_that_join_to_the_whole_page() -> None:
    """/metrics is sent a piece at a time (what a scrape holds is one piece, not a page
    of megabytes): 5,000 checks come in many pieces of about PIECE bytes, equal to the
    page made at once."""
    latest = LatestResults()
    metrics = Metrics(CollectorRegistry(), latest, "1.2.3")
    for i in range(5000):
        latest.record(result(f"c{i:05d}", i % 7 != 0, Sample("status_code", 200)))
    snapshot = metrics.snapshot()
    made = list(metrics.page(snapshot))
    assert len(made) > 10
    assert all(len(piece) < PIECE + 300 for piece in made)
    whole = metrics.render(snapshot)  # the registry's piece (first) reads the process anew
    assert whole.endswith(b"".join(made[1:]))
    assert (
        parsed_page(whole)["sentinel_check_up", frozenset({("check", "c00007"), ("type", "http")})]
        == 0.0
    )
