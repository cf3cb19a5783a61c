"""Metrics: one object on an injected registry; the output passes promtool."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sentinel.metrics import Metrics
from sentinel.probes.results import LatestResults, Result, Sample
from tests.deploy.promtool import promtool

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
    """promtool check metrics finds no problem in sentinel's /metrics output."""
    tool = promtool()
    metrics, _ = populated()
    text = metrics.render()
    proc = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
