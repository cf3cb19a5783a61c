"""``selects_any``: a selector naming one check is looked up by name, and answers as
trying ``selects`` on every check would (globs, types and labels included)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sentinel.config import parse_config
from sentinel.config.references import selected, selects, selects_any

CONFIG = """
checks:
  - {name: api, type: tcp, target: "127.0.0.1:1", labels: {team: web}}
  - {name: api-2, type: tcp, target: "127.0.0.1:2"}
  - {name: db, type: http, url: "http://127.0.0.1:3/", labels: {team: data}}
"""
CHECKS = parse_config(CONFIG, "t.yaml", {}).checks
BY_NAME = {c.name: c for c in CHECKS}

selectors = st.fixed_dictionaries(
    {},
    optional={
        "check": st.sampled_from(["api", "api-2", "db", "nope", "api*", "a?i", "[ad]*", "*"]),
        "type": st.sampled_from(["tcp", "http", "dns"]),
        "team": st.sampled_from(["web", "data", "ops"]),
    },
)


@given(selectors)
def test_selects_any_agrees_with_trying_every_check(match: dict[str, str]) -> None:
    assert selects_any(match, BY_NAME) == any(selects(match, c, c.type) for c in CHECKS)
    assert selected(match, BY_NAME) == [c for c in CHECKS if selects(match, c, c.type)]


def test_a_named_check_that_is_not_there_or_does_not_match_selects_nothing() -> None:
    assert selects_any({"check": "api"}, BY_NAME)
    assert not selects_any({"check": "nope"}, BY_NAME)
    assert not selects_any({"check": "api", "type": "http"}, BY_NAME)
    assert not selects_any({"check": "api", "team": "data"}, BY_NAME)
    assert selects_any({"check": "a*", "team": "web"}, BY_NAME)
