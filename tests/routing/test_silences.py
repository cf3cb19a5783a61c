"""Silences: matching, activity in time, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.routing.silences import Silence, check_matchers, silence_from_request, silenced_by

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def silence(matchers: dict[str, str], minutes: int = 60) -> Silence:
    return Silence("sil-1", matchers, T0, T0 + timedelta(minutes=minutes), "alice", "deploy", T0)


def test_exact_and_regex_matchers() -> None:
    """Exact values and ~regex (whole value) must all match."""
    s = silence({"alertname": "ServiceDown", "check": "~prod-.*"})
    assert s.matches({"alertname": "ServiceDown", "check": "prod-api"})
    assert not s.matches({"alertname": "ServiceDown", "check": "staging-api"})
    assert not s.matches({"alertname": "Slow", "check": "prod-api"})


def test_active_from_start_until_end() -> None:
    """A silence applies from its start up to, not including, its end."""
    s = silence({"check": "api"}, minutes=30)
    labels = {"check": "api"}
    assert silenced_by([s], labels, T0) is s
    assert silenced_by([s], labels, T0 + timedelta(minutes=29)) is s
    assert silenced_by([s], labels, T0 + timedelta(minutes=30)) is None
    assert silenced_by([s], labels, T0 - timedelta(seconds=1)) is None


@pytest.mark.parametrize(
    ("matchers", "message"), [({}, "at least one matcher"), ({"a": "~("}, "invalid regex")]
)
def test_bad_silences_are_refused(matchers: dict[str, str], message: str) -> None:
    """An empty silence would mute everything; a broken regex nothing: both refused."""
    with pytest.raises(ValueError, match=message):
        check_matchers(matchers)


# -- robustness: any request body gives a Silence or a ValueError ---------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=10,
)
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "matchers": st.dictionaries(
            st.sampled_from(["check", "alertname", "severity"]),
            st.sampled_from(["api", "~prod-.*", "~(", "~" + "(" * 1500, "", "~.*"]) | st.text(),
            max_size=3,
        )
        | JSON,
        "author": st.sampled_from(["alice", "", " "]) | JSON,
        "comment": st.text(max_size=10) | JSON,
        "duration": st.sampled_from(["1h", "30", "0", "-5m", "3651d", "5m\n"]) | JSON,
        "starts_at": st.sampled_from(
            ["2026-05-01T13:00:00+00:00", "9999-12-31T23:00:00+00:00", "2026-05-01", "soon"]
        )
        | JSON,
    },
)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(BODIES | JSON)
def test_any_request_body_is_a_silence_or_a_value_error(body: object) -> None:
    try:
        made = silence_from_request(body, T0)
    except ValueError as exc:
        error = str(exc)
    else:
        error = "made"
        assert made.ends_at > T0
        assert made.matchers
    assert error


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([{"check": "api"}], "the request body must be a JSON object"),
        (
            {"matchers": {"check": "api"}, "author": "a", "starts_at": "9999-12-31T23:30:00+00:00"},
            "starts_at is too far in the future",
        ),
        ({"matchers": {"check": "~" + "(" * 1500}, "author": "a"}, "nested too deeply"),
        ({"matchers": {"": ""}, "author": "a"}, "invalid label name ''"),
        ({"matchers": {"a-b": "x"}, "author": "a"}, "invalid label name 'a-b'"),
        ({"matchers": {"check": "", "env": "~.*"}, "author": "a"}, "require a non-empty value"),
    ],
    ids=["list-body", "year-9999", "deep-regex", "empty-label", "bad-label", "matches-nothing"],
)
def test_hostile_silence_requests_are_value_errors(body: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        silence_from_request(body, T0)
