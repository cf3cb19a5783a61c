"""Config loading: golden good and bad files, interpolation, durations, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel.config import (
    ConfigError,
    HttpCheck,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    secret_values,
)
from tests.examples import EXAMPLE_ENV

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
BAD = sorted((HERE / "bad").glob("*.yaml"))
GOOD = sorted((HERE / "good").glob("*.yaml"))


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_names_file_path_and_line(path: Path) -> None:
    """Each bad golden file fails with the exact message on its first line."""
    text = path.read_text()
    expected = text.splitlines()[0].removeprefix("# expect: ")
    with pytest.raises(ConfigError) as info:
        parse_config(text, "bad.yaml", {})
    assert expected in info.value.problems


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_configs_load(path: Path) -> None:
    """Each good golden file validates with no environment at all."""
    config = load_config(path, {})
    assert config.checks


def test_example_config_validates() -> None:
    """The project's example (every section of a production config) validates whole."""
    config = load_config(ROOT / "config" / "sentinel.example.yaml", EXAMPLE_ENV)
    assert {c.type for c in config.checks} >= {
        "http",
        "postgres",
        "redis",
        "tcp",
        "tls",
        "prometheus",
        "heartbeat",
    }
    assert config.escalation.critical[0].notify == ["oncall:primary", "pagerduty", "slack-alerts"]


def test_demo_config_validates() -> None:
    """The demo that make run starts is valid."""
    config = load_config(ROOT / "config" / "demo.yaml", {})
    assert [c.name for c in config.checks][:2] == ["sentinel-health", "sentinel-ready"]


def test_defaults_apply_to_checks_without_their_own() -> None:
    """A check without interval or timeout takes defaults:; its own values win."""
    config = load_config(HERE / "good" / "interpolation.yaml", {})
    assert (config.checks[0].interval, config.checks[0].timeout) == (60.0, 2.0)
    own = parse_config(
        "defaults: {interval: 1m}\nchecks:\n- {name: a, type: tcp, target: 'h:1', interval: 5s}\n",
        "x.yaml",
        {},
    )
    assert own.checks[0].interval == 5.0


def test_interpolation_uses_env_then_default_and_dollar_escape() -> None:
    """${VAR} takes the environment, ${VAR:-d} falls back to d, $$ is a literal dollar."""
    path = HERE / "good" / "interpolation.yaml"
    config = load_config(path, {"SENTINEL_TEST_HOST": "10.9.8.7", "SENTINEL_TEST_TOKEN": "tok-123"})
    check = config.checks[0]
    assert isinstance(check, HttpCheck)
    assert check.url == "http://10.9.8.7:8080/health?cost=$5"
    assert config.server.listen == "127.0.0.1:9999"
    assert config.server.api_token is not None
    assert config.server.api_token.get_secret_value() == "tok-123"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing file is reported as a config problem, not a traceback."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", {})
    assert "cannot read config" in info.value.problems[0]


def test_top_level_must_be_a_mapping() -> None:
    """A list at the top level is refused with a line."""
    with pytest.raises(ConfigError) as info:
        parse_config("- a\n- b\n", "x.yaml", {})
    assert info.value.problems == ["x.yaml:1: the top level must be a mapping of sections"]


def test_secrets_never_appear_in_errors() -> None:
    """A config error about a field next to a secret does not print the secret."""
    text = (
        "checks:\n- name: db\n  type: postgres\n  dsn: postgresql://u:hunter2-secret@h/db\n"
        "  interval: nonsense\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.yaml", {})
    assert "hunter2-secret" not in str(info.value)
    assert "checks[0].interval" in str(info.value)


def test_secret_values_collects_every_secret() -> None:
    """secret_values finds credentials anywhere in the model, for the log redactor."""
    config = load_config(ROOT / "config" / "sentinel.example.yaml", EXAMPLE_ENV)
    found = secret_values(config)
    assert set(EXAMPLE_ENV.values()) <= found
    assert "secret-sentinel_api_token-value" not in config.model_dump_json()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        (7, 7.0),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    """Every documented unit parses to seconds; a bare number is seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 m", "-5s", "1y", "ms", True, None])
def test_parse_duration_rejects(text: object) -> None:
    """Anything but a documented duration is refused with a reason."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**8))
def test_format_then_parse_round_trips(seconds: int) -> None:
    """format_duration's spelling parses back to the same number of seconds."""
    assert parse_duration(format_duration(seconds)) == seconds
