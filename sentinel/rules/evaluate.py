"""Evaluating an expression over a check's series at one instant.

Values are scalars (float) or vectors: label set -> value, one entry per
series, as in PromQL. Comparisons filter (``x > 5`` keeps the series of ``x``
above 5, with their values); an alert instance exists for every label set
left in the result. A selector that finds nothing makes the result "missing
data", which the alert state machine treats by the rule's ``on_no_data``.

Semantics shared with Prometheus 2.x (checked against promtool 2.42 by the
parity suite): instant selectors take the newest point in the 5-minute
lookback; range selectors take points in ``[t - range, t]``, both edges
included (Prometheus 3 leaves the left edge out); ``rate``/``increase``/
``delta`` extrapolate as Prometheus does; quantiles interpolate linearly.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sentinel.rules.tree import AGGREGATIONS, Binary, Call, Node, Number, Selector, Unary

Labels = tuple[tuple[str, str], ...]
Vector = dict[Labels, float]
Value = float | Vector
Points = list[tuple[float, float]]
LOOKBACK = 300.0


class SeriesSource(Protocol):
    def points(self, name: str, start: float, end: float) -> dict[Labels, Points]:
        """Every series called ``name`` with its points in ``[start, end]``, oldest first."""
        ...


@dataclass
class Evaluation:
    value: Vector
    missing: bool = False


@dataclass
class _Context:
    source: SeriesSource
    at: float
    missing: list[str] = field(default_factory=list)


def evaluate(node: Node, source: SeriesSource, at: float) -> Evaluation:
    """The alert instances ``node`` yields at time ``at`` (epoch seconds)."""
    ctx = _Context(source, at)
    value = _eval(node, ctx)
    vector: Vector = value if isinstance(value, dict) else {(): value}
    return Evaluation(vector, missing=bool(ctx.missing))


def _eval(node: Node, ctx: _Context) -> Value:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Selector):
        return _instant(node, ctx)
    if isinstance(node, Call):
        return _call(node, ctx)
    if isinstance(node, Unary):
        operand = _eval(node.operand, ctx)
        if node.op == "-":
            return -operand if isinstance(operand, float) else {k: -v for k, v in operand.items()}
        empty = operand == {} if isinstance(operand, dict) else False
        return {(): 1.0} if empty else {}
    return _binary(node, ctx)


def _matching(sel: Selector, series: dict[Labels, Points]) -> dict[Labels, Points]:
    if not sel.matchers:
        return series
    return {
        labels: pts
        for labels, pts in series.items()
        if all(m.matches(dict(labels)) for m in sel.matchers)
    }


def _instant(sel: Selector, ctx: _Context) -> Vector:
    t = ctx.at - sel.offset
    found = _matching(sel, ctx.source.points(sel.name, t - LOOKBACK, t))
    out = {labels: pts[-1][1] for labels, pts in found.items() if pts}
    if not out:
        ctx.missing.append(sel.name)
    return out


def _range(sel: Selector, ctx: _Context) -> tuple[dict[Labels, Points], float, float]:
    assert sel.range is not None
    end = ctx.at - sel.offset
    start = end - sel.range
    found = {k: v for k, v in _matching(sel, ctx.source.points(sel.name, start, end)).items() if v}
    if not found:
        ctx.missing.append(sel.name)
    return found, start, end


def quantile(q: float, values: Sequence[float]) -> float:
    """Prometheus's quantile_over_time: linear interpolation between closest ranks."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lower = math.floor(rank)
    upper = min(lower + 1, len(ordered) - 1)
    weight = rank - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def extrapolated(
    points: Points, start: float, end: float, counter: bool, per_second: bool
) -> float | None:
    """Prometheus's extrapolatedRate for rate(), increase() and delta()."""
    if len(points) < 2:
        return None
    first_t, first_v = points[0]
    last_t, last_v = points[-1]
    result = last_v - first_v
    if counter:
        previous = first_v
        for _, v in points[1:]:
            if v < previous:
                result += previous  # a counter reset
            previous = v
    sampled = last_t - first_t
    if sampled <= 0:
        return None
    average_gap = sampled / (len(points) - 1)
    to_start = first_t - start
    to_end = end - last_t
    if counter and result > 0 and first_v >= 0:
        to_zero = sampled * (first_v / result)
        to_start = min(to_start, to_zero)
    threshold = average_gap * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average_gap / 2
    interval += to_end if to_end < threshold else average_gap / 2
    result *= interval / sampled
    if per_second:
        result /= end - start
    return result


def _stddev(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def _zscore(values: list[float]) -> float | None:
    sd = _stddev(values)
    if sd == 0:
        return None
    return (values[-1] - statistics.fmean(values)) / sd


OVER_TIME: dict[str, Callable[[list[float]], float | None]] = {
    "avg": statistics.fmean,
    "min": min,
    "max": max,
    "sum": math.fsum,
    "count": lambda vs: float(len(vs)),
    "last": lambda vs: vs[-1],
    "stddev": _stddev,
    "zscore": _zscore,
    "changes": lambda vs: float(sum(1 for a, b in itertools.pairwise(vs) if a != b)),
    "p50": lambda vs: quantile(0.5, vs),
    "p90": lambda vs: quantile(0.9, vs),
    "p95": lambda vs: quantile(0.95, vs),
    "p99": lambda vs: quantile(0.99, vs),
}


def _call(call: Call, ctx: _Context) -> Value:
    func = call.func
    target = call.args[-1]
    if isinstance(target, Selector) and target.range is not None:
        series, start, end = _range(target, ctx)
        if func == "absent":
            return {} if series else {(): 1.0}
        out: Vector = {}
        for labels, pts in series.items():
            value: float | None
            if func in ("rate", "increase", "delta"):
                value = extrapolated(
                    pts, start, end, counter=func != "delta", per_second=func == "rate"
                )
            elif func == "quantile":
                q = call.args[0]
                assert isinstance(q, Number)
                value = quantile(q.value, [v for _, v in pts])
            else:
                value = OVER_TIME[func]([v for _, v in pts])
            if value is not None:
                out[labels] = value
        return out
    inner = _eval(target, ctx)
    if func == "abs":
        return abs(inner) if isinstance(inner, float) else {k: abs(v) for k, v in inner.items()}
    if func == "absent":
        return {(): 1.0} if isinstance(inner, dict) and not inner else {}
    assert func in AGGREGATIONS
    vector: Vector = inner if isinstance(inner, dict) else {(): inner}
    groups: dict[Labels, list[float]] = {}
    keep = call.by or ()
    for labels, v in vector.items():
        key: Labels = tuple((name, text) for name, text in labels if name in keep)
        groups.setdefault(key, []).append(v)
    return {key: OVER_TIME[func](vs) or 0.0 for key, vs in groups.items()}


def _arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _as_scalar(value: Value) -> Value:
    """A one-series vector without labels acts as a number (``memory_used / memory_total``)."""
    if isinstance(value, dict) and len(value) == 1 and () in value:
        return float(value[()])
    return value


def _binary(node: Binary, ctx: _Context) -> Value:
    left, right = _eval(node.left, ctx), _eval(node.right, ctx)
    op = node.op
    if op in ("and", "or"):
        lv: Vector = left if isinstance(left, dict) else {(): left}
        rv: Vector = right if isinstance(right, dict) else {(): right}
        if op == "and":
            return {k: v for k, v in lv.items() if k in rv or () in rv}
        return {**rv, **lv}
    if op in COMPARE:
        test = COMPARE[op]
        if isinstance(left, dict) and isinstance(right, dict):
            r = _as_scalar(right)
            if isinstance(r, float):
                return {k: v for k, v in left.items() if test(v, r)}
            return {k: v for k, v in left.items() if k in r and test(v, r[k])}
        if isinstance(left, dict):
            assert isinstance(right, float)
            return {k: v for k, v in left.items() if test(v, right)}
        if isinstance(right, dict):
            return {k: v for k, v in right.items() if test(left, v)}
        return {(): left} if test(left, right) else {}
    left, right = _as_scalar(left), _as_scalar(right)
    if isinstance(left, float) and isinstance(right, float):
        return _arith(op, left, right)
    if isinstance(left, float):
        assert isinstance(right, dict)
        return {k: _arith(op, left, v) for k, v in right.items()}
    if isinstance(right, float):
        return {k: _arith(op, v, right) for k, v in left.items()}
    return {k: _arith(op, v, right[k]) for k, v in left.items() if k in right}
