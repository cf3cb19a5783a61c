"""Evaluating expressions over real CheckSeries filled with results."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from sentinel.probes.results import Result, Sample
from sentinel.rules.evaluate import evaluate, extrapolated, quantile
from sentinel.rules.expr import parse
from sentinel.rules.series import CheckSeries

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def feed(series: CheckSeries, minute: float, *samples: Sample, ok: bool = True) -> None:
    series.add(
        Result(
            check="api",
            type="http",
            ok=ok,
            started_at=T0 + timedelta(minutes=minute),
            duration=0.1,
            samples=(Sample("up", 1.0 if ok else 0.0), *samples),
        )
    )


def at(minute: float) -> float:
    return (T0 + timedelta(minutes=minute)).timestamp()


def test_instant_comparison_filters_and_keeps_values() -> None:
    """up == 0 yields the series while down, nothing while up."""
    series = CheckSeries(600)
    feed(series, 0, ok=True)
    assert evaluate(parse("up == 0"), series, at(0)).value == {}
    feed(series, 1, ok=False)
    assert evaluate(parse("up == 0"), series, at(1)).value == {(): 0.0}


def test_ratio_of_two_samples() -> None:
    """memory_used / memory_total > 90% compares the ratio."""
    series = CheckSeries()
    feed(series, 0, Sample("memory_used", 95), Sample("memory_total", 100))
    assert evaluate(parse("memory_used / memory_total > 90%"), series, at(0)).value == {(): 0.95}


def test_labelled_samples_and_matchers() -> None:
    """key_length{key="q"} picks one series; each label set is its own instance."""
    series = CheckSeries()
    feed(
        series,
        0,
        Sample("key_length", 1001, (("key", "q"),)),
        Sample("key_length", 5, (("key", "other"),)),
    )
    assert evaluate(parse('key_length{key="q"} > 1000'), series, at(0)).value == {
        (("key", "q"),): 1001
    }
    assert evaluate(parse("key_length > 1"), series, at(0)).value == {
        (("key", "q"),): 1001,
        (("key", "other"),): 5,
    }


def test_window_functions() -> None:
    """avg, p95, max and count over a 5-minute window see only points inside it."""
    series = CheckSeries(3600)
    for minute, value in enumerate([10, 1, 2, 3, 4, 5]):
        feed(series, minute, Sample("duration_seconds", value))
    # the window [t-5m, t] at minute 5.5 leaves minute 0 out
    assert evaluate(parse("avg(duration_seconds[5m])"), series, at(5.5)).value == {(): 3.0}
    assert evaluate(parse("max(duration_seconds[5m])"), series, at(5.5)).value == {(): 5.0}
    assert evaluate(parse("count(duration_seconds[5m])"), series, at(5.5)).value == {(): 5.0}
    assert evaluate(parse("p50(duration_seconds[5m])"), series, at(5.5)).value == {(): 3.0}
    assert evaluate(parse("1 - avg(up[5m]) > 5%"), series, at(5.5)).value == {}
    # a point exactly a window old is inside it, as in Prometheus 2.x
    assert evaluate(parse("max(duration_seconds[5m])"), series, at(5)).value == {(): 10.0}


def test_offset_compares_with_an_earlier_window() -> None:
    """A slow deploy: the last 5 minutes are 1.5x slower than the hour before, offset by 10m."""
    series = CheckSeries(7200)
    for minute in range(0, 70):
        feed(series, minute, Sample("duration_seconds", 1.0 if minute < 65 else 2.0))
    slow = "avg(duration_seconds[5m]) > 1.5 * avg(duration_seconds[1h] offset 10m)"
    got = evaluate(parse(slow), series, at(69)).value
    assert list(got) == [()]
    assert math.isclose(got[()], 11 / 6)  # [64m, 69m]: one point of 1.0 and five of 2.0
    assert evaluate(parse(slow), series, at(64)).value == {}


def test_missing_sample_is_no_data() -> None:
    """A sample the check never reported yields nothing and says data is missing."""
    series = CheckSeries()
    feed(series, 0)
    result = evaluate(parse("hit_ratio < 80%"), series, at(0))
    assert result.value == {}
    assert result.missing


def test_lookback_is_five_minutes() -> None:
    """An instant selector sees a point up to 5 minutes old, not older."""
    series = CheckSeries(3600)
    feed(series, 0, Sample("x", 1))
    assert evaluate(parse("x"), series, at(4.9)).value == {(): 1.0}
    assert evaluate(parse("x"), series, at(5.1)).value == {}


def test_rate_of_a_counter_with_a_reset() -> None:
    """increase() adds the value before a reset and extrapolates as Prometheus does."""
    points = [(0.0, 0.0), (60.0, 60.0), (120.0, 10.0), (180.0, 70.0), (240.0, 130.0)]
    # 130 - 0 + 60 lost at the reset = 190; starting at zero, nothing to extrapolate
    assert extrapolated(points, -60.0, 240.0, counter=True, per_second=False) == 190.0
    # 120 over 120 s sampled, extended 10 s back (to zero) and 30 s forward: 120 * 160 / 120
    later = [(30.0, 10.0), (90.0, 70.0), (150.0, 130.0)]
    assert extrapolated(later, 0.0, 180.0, counter=True, per_second=False) == 160.0
    rate = extrapolated(later, 0.0, 180.0, counter=True, per_second=True)
    assert rate is not None
    assert math.isclose(rate, 160.0 / 180.0)
    assert extrapolated(later[:1], 0.0, 180.0, counter=True, per_second=True) is None


def test_sum_by_label_and_rate_ratio() -> None:
    """The spec's error-rate rule: 5xx rate over all requests, summed across codes."""
    series = CheckSeries(3600)
    for minute in range(6):
        feed(
            series,
            minute,
            Sample("http_requests_total", 100.0 * minute, (("code", "200"),)),
            Sample("http_requests_total", 5.0 * minute, (("code", "500"),)),
        )
    expr = (
        'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 1%'
    )
    got = evaluate(parse(expr), series, at(5)).value
    assert list(got) == [()]
    assert math.isclose(got[()], 5 / 105)
    by_code = evaluate(parse("sum(http_requests_total) by (code)"), series, at(5)).value
    assert by_code == {(("code", "200"),): 500.0, (("code", "500"),): 25.0}


@pytest.mark.parametrize(("q", "expected"), [(0.0, 1.0), (0.5, 2.5), (0.95, 3.85), (1.0, 4.0)])
def test_quantile_interpolates(q: float, expected: float) -> None:
    """Quantiles interpolate between ranks like quantile_over_time."""
    assert math.isclose(quantile(q, [4.0, 1.0, 3.0, 2.0]), expected)


def test_not_and_absent() -> None:
    """not x holds when x yields nothing; absent(x[5m]) when there is no point at all."""
    series = CheckSeries()
    feed(series, 0)
    assert evaluate(parse("not up == 0"), series, at(0)).value == {(): 1.0}
    assert evaluate(parse("absent(backup_ok[5m])"), series, at(0)).value == {(): 1.0}
    assert evaluate(parse("absent(up[5m])"), series, at(0)).value == {}


def test_division_by_zero_is_infinite_not_an_error() -> None:
    """x / 0 is +Inf (or NaN for 0/0), as in Prometheus, not an exception."""
    series = CheckSeries()
    feed(series, 0, Sample("a", 1), Sample("b", 0))
    assert evaluate(parse("a / b"), series, at(0)).value == {(): math.inf}
