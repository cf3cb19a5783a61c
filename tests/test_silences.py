"""Silences: matching, activity in time, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentinel.silences import Silence, check_matchers, silenced_by

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
