"""The expression language: what parses, and errors that point at the column."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.rules.expr import parse
from sentinel.rules.tree import Binary, Call, ExprError, Number, Selector, longest_window

SPEC_EXPRESSIONS = [
    "up == 0",
    "p95(duration_seconds[5m]) > 2s",
    "1 - avg(up[5m]) > 5%",
    "cpu_usage_percent > 80",
    "memory_used / memory_total > 90%",
    "connections_used_ratio > 80%",
    "hit_ratio < 80%",
    'key_length{key="image-processing-queue"} > 1000',
    "cert_expiry_seconds < 14d",
    "critical_inventory_items > 0",
    "abs(zscore(revenue_per_hour[1d])) > 2",
    'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 1%',
    "avg(duration_seconds[5m]) > 1.5 * avg(duration_seconds[1h] offset 10m)",
]


@pytest.mark.parametrize("text", SPEC_EXPRESSIONS)
def test_every_spec_expression_parses(text: str) -> None:
    """Each expression of the spec's rules parses into a comparison."""
    assert isinstance(parse(text), Binary)


def test_units_become_seconds_and_ratios() -> None:
    """2s, 14d, 500ms and 80% are numbers in seconds or ratios."""
    node = parse("x > 14d")
    assert isinstance(node, Binary)
    assert node.right == Number(14 * 86400, 5)
    for text, value in (("500ms", 0.5), ("80%", 0.8), ("5m", 300.0), ("1.5", 1.5)):
        parsed = parse(text)
        assert isinstance(parsed, Number)
        assert parsed.value == value


def test_selectors_with_matchers_windows_and_offsets() -> None:
    """Label matchers, a range and an offset are read into the selector."""
    node = parse('rate(http_requests_total{code=~"5..", job!="x"}[5m] offset 10m)')
    assert isinstance(node, Call)
    sel = node.args[0]
    assert isinstance(sel, Selector)
    assert [(m.label, m.op, m.value) for m in sel.matchers] == [
        ("code", "=~", "5.."),
        ("job", "!=", "x"),
    ]
    assert (sel.range, sel.offset) == (300.0, 600.0)
    assert longest_window(node) == 900.0


def test_precedence() -> None:
    """* binds tighter than -, comparisons than and, and than or."""
    node = parse("a - b * 2 > 1 and c or d")
    assert isinstance(node, Binary)
    assert node.op == "or"
    left = node.left
    assert isinstance(left, Binary)
    assert left.op == "and"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("avgg(up[5m])", "unknown function 'avgg' at column 1"),
        (
            "up ==",
            "expected a number, a sample or a function, found 'end of expression' at column 6",
        ),
        ("rate(up)", "rate needs a range such as rate(x[5m]) at column 1"),
        ("abs(up[5m])", "abs takes an instant value, not a range at column 1"),
        ("up > 1 2", "unexpected '2' at column 8"),
        ("x{a=1}", "expected a quoted label value at column 5"),
        (
            'x{a=~"("}',
            "invalid regex '(': missing ), unterminated subpattern at position 0 at column 6",
        ),
        ("x[5]", "expected a duration such as 5m at column 3"),
        ("up # 1", "unexpected character '#' at column 4"),
        ("quantile(2, x[5m])", "quantile 2.0 is not between 0 and 1 at column 1"),
        (
            "sum(x[5m]) by (a)",
            "'by' goes with an aggregation across series, e.g. sum(x) by (label) at column 1",
        ),
    ],
)
def test_errors_name_the_column(text: str, message: str) -> None:
    """Every mistake is an ExprError whose message ends with the column."""
    with pytest.raises(ExprError) as info:
        parse(text)
    assert str(info.value) == message


# -- robustness: any text parses or gives an ExprError ------------------------

EXPR_PIECES = [
    *"()[]{},+-*/<>=!~\" 0123456789.%",
    "x", "up", "not ", " and ", " or ", "avg(", "quantile(", " by (", " offset ",
    "5m", "1h", "=~", '"a\\x"', '"\\N{foo}"', '"é"', "\\",
]  # fmt: skip


@settings(derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(EXPR_PIECES), max_size=60).map("".join))
def test_any_text_parses_or_is_an_expr_error(text: str) -> None:
    """Never RecursionError, UnicodeDecodeError or IndexError: a tree or ExprError."""
    error = "at column"
    try:
        parse(text)
    except ExprError as exc:
        error = str(exc)
    assert "at column" in error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(" * 400 + "1" + ")" * 400, "expression nested deeper than 40 levels at column 41"),
        ("-" * 200 + "1", "expression nested deeper than 40 levels at column 41"),
        ("not " * 300 + "up", "expression nested deeper than 40 levels at column 161"),
        (" + ".join(["up"] * 200), "expression nested deeper than 100 levels at column 1"),
        ("up" + " + 1" * 2000, "expression longer than 1000 tokens at column 2002"),
        ('x{a="\\x"} > 0', None),
        ('x{a=~"' + "(" * 2000 + '"} > 0', "invalid regex: nested too deeply at column 6"),
    ],
    ids=["parens", "minus", "not", "long-chain", "too-long", "escape", "regex-deep"],
)
def test_hostile_expressions_are_clean_errors(text: str, message: str | None) -> None:
    if message is None:
        assert isinstance(parse(text), Binary)
    else:
        with pytest.raises(ExprError, match=re.escape(message)):
            parse(text)


def test_quoted_values_keep_non_ascii_and_regex_escapes() -> None:
    """ "é" stays é (it became mojibake), \\" is a quote, and a regex's \\. stays for the regex."""
    node = parse('x{a="café", b="say \\"hi\\"", c=~"a\\.b"} > 0')
    assert isinstance(node, Binary)
    assert isinstance(node.left, Selector)
    assert [m.value for m in node.left.matchers] == ["café", 'say "hi"', "a\\.b"]
    assert node.left.matchers[2].matches({"c": "a.b"})
    assert not node.left.matchers[2].matches({"c": "axb"})
