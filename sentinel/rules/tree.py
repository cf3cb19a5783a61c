"""The rule expression's tree: frozen nodes, the functions it may call, and what the
engine asks of a tree (how deep it is, how far back it reads).

:mod:`sentinel.rules.expr` parses text into it; :mod:`sentinel.rules.evaluate` walks it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class ExprError(ValueError):
    """A problem in an expression, with the 1-based column where it is."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.column = column


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    col: int


@dataclass(frozen=True, slots=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(got) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True, slots=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...]
    range: float | None  # seconds, for x[5m]
    offset: float
    col: int


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]
    by: tuple[str, ...] | None
    col: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node
    col: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node
    col: int


Node = Number | Selector | Call | Binary | Unary

# Functions over a range of one series: name -> needs a range selector
RANGE_FUNCTIONS = {
    "avg", "min", "max", "sum", "count", "last", "rate", "increase", "delta",
    "stddev", "zscore", "changes", "p50", "p90", "p95", "p99", "quantile", "absent",
}  # fmt: skip
AGGREGATIONS = {"avg", "min", "max", "sum", "count"}  # across series when given an instant vector
INSTANT_FUNCTIONS = {"abs", "absent"}
FUNCTIONS = RANGE_FUNCTIONS | AGGREGATIONS | INSTANT_FUNCTIONS


def check_call(call: Call) -> Call:
    """Arity and argument kinds, checked when the config loads."""
    func, args = call.func, call.args
    if func == "quantile":
        if len(args) != 2 or not isinstance(args[0], Number):
            raise ExprError("quantile takes (q, series[window])", call.col)
        q = args[0].value
        if not 0 <= q <= 1:
            raise ExprError(f"quantile {q} is not between 0 and 1", call.col)
        ranged = args[1]
    else:
        if len(args) != 1:
            raise ExprError(f"{func} takes one argument", call.col)
        ranged = args[0]
    is_range = isinstance(ranged, Selector) and ranged.range is not None
    if func in RANGE_FUNCTIONS - AGGREGATIONS - INSTANT_FUNCTIONS and not is_range:
        raise ExprError(f"{func} needs a range such as {func}(x[5m])", call.col)
    if func in INSTANT_FUNCTIONS - RANGE_FUNCTIONS and is_range:
        raise ExprError(f"{func} takes an instant value, not a range", call.col)
    if call.by is not None and (is_range or func not in AGGREGATIONS):
        raise ExprError(
            "'by' goes with an aggregation across series, e.g. sum(x) by (label)", call.col
        )
    return call


def height(node: Node) -> int:
    """Levels in the tree, counted without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        top, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(top, Call):
            stack.extend((a, level + 1) for a in top.args)
        elif isinstance(top, Binary):
            stack += [(top.left, level + 1), (top.right, level + 1)]
        elif isinstance(top, Unary):
            stack.append((top.operand, level + 1))
    return deepest


def longest_window(node: Node) -> float:
    """How far back (window + offset) the expression reads, for sizing the series buffers."""
    if isinstance(node, Selector):
        return (node.range or 0.0) + node.offset
    if isinstance(node, Call):
        return max(longest_window(a) for a in node.args)
    if isinstance(node, Binary):
        return max(longest_window(node.left), longest_window(node.right))
    if isinstance(node, Unary):
        return longest_window(node.operand)
    return 0.0
