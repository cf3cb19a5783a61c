"""Property tests of the config loader, durations and sizes: any input gives a value or
a clean error (ConfigError naming a line, ValueError with a message), never another
exception. Deterministic: hypothesis derandomized, the mutations seeded."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel.config import ConfigError, load_config, parse_config
from sentinel.config.units import MAX_DURATION, MAX_SIZE, parse_duration, parse_size
from tests.config.mutations import MARKER, mutations
from tests.examples import EXAMPLE_ENV

FIXED = settings(derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
LINE = re.compile(r"^x\.yaml:\d+: ")
YAMLISH = st.lists(
    st.sampled_from([*"abc:-[]{},&*!?|>'\"#%@`\t\n 019.$\u00e9", "checks", "type: ", "  - "]),
    max_size=80,
).map("".join)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=40),
)
KEYS = st.sampled_from(
    [
        *("checks", "name", "type", "url", "interval", "timeout", "rules", "expr", "for"),
        *("defaults", "storage", "channels", "escalation", "notify", "target", "http", "labels"),
    ]
)
TREES = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=4),
    max_leaves=12,
)


def clean(text: str, env: dict[str, str] | None = None) -> None:
    """Loads, or fails with problems that each name the line."""
    try:
        parse_config(text, "x.yaml", env or {})
        problems: list[str] = []
    except ConfigError as exc:
        problems = exc.problems or ["(an error without problems)"]
    for problem in problems:
        assert LINE.match(problem), problem


@FIXED
@given(YAMLISH)
def test_any_text_loads_or_names_a_line(text: str) -> None:
    clean(text)


@FIXED
@given(TREES)
def test_any_structure_loads_or_names_a_line(tree: Any) -> None:
    clean(yaml.safe_dump({"checks": [tree]} if not isinstance(tree, dict) else tree))


@pytest.mark.parametrize(
    ("parse", "bound", "word"),
    [(parse_duration, MAX_DURATION, "duration"), (parse_size, MAX_SIZE, "size")],
    ids=["duration", "size"],
)
@FIXED
@given(
    st.one_of(
        SCALARS,
        st.text(alphabet="0123456789.mshdwKMGiB \n", max_size=14),
        st.lists(SCALARS),
        st.just(MARKER),
    )
)
def test_a_duration_or_size_is_bounded_or_a_value_error(
    parse: Callable[[object], float], bound: float, word: str, value: object
) -> None:
    """Seconds within 10 years, bytes within 1 GiB, or a ValueError that says what it
    expected and does not repeat a long value."""
    number, error = 0.0, word
    try:
        number = parse(value)
    except ValueError as exc:
        error = str(exc)
    assert 0 <= number <= bound
    assert word in error
    assert MARKER not in error


MUTATIONS = mutations(500, seed=13)


def test_500_mutations_of_the_example_each_load_or_name_a_line(tmp_path: Path) -> None:
    """Each mutation gives a valid config or ConfigError lines naming the line; no secret
    of the environment and no long value typed into the file is repeated."""
    path = tmp_path / "sentinel.yaml"
    outcomes = {"valid": 0, "refused": 0}
    for mutation in MUTATIONS:
        path.write_bytes(mutation.raw)
        try:
            load_config(path, EXAMPLE_ENV)
            outcomes["valid"] += 1
        except ConfigError as exc:
            outcomes["refused"] += 1
            for problem in exc.problems:
                assert re.match(rf"{re.escape(str(path))}:\d+: ", problem), (mutation.name, problem)
                assert MARKER not in problem, mutation.name
                assert not any(s in problem for s in EXAMPLE_ENV.values()), mutation.name
                assert "x" * 17 not in problem, mutation.name
    assert outcomes["valid"] > 10
    assert outcomes["refused"] > 200


@pytest.mark.parametrize("kind", ["tab", "delete key", "retype", "bytes", "duplicate item"])
def test_the_mutations_cover_each_kind(kind: str) -> None:
    assert any(kind in m.name for m in MUTATIONS)
