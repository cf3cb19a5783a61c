"""Config files that are wrong, broken or hostile: refused at once, one clear line each,
never a traceback, never the file's text echoed back (issues 12 and 13)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import structlog

from sentinel.cli.main import main
from sentinel.config import ConfigError, HttpCheck, load_config, parse_config
from sentinel.config.yamlread import MAX_ALIASES

BAD = Path(__file__).parent / "bad"
SECRET = "xoxb-1234567890-abcdefghijklmnop"


@pytest.fixture(autouse=True)
def _reset_logging() -> None:
    structlog.reset_defaults()


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.yaml", env or {})
    return info.value.problems


def http(extra: str = "") -> str:
    return f"checks:\n  - {{name: api, type: http, url: 'http://127.0.0.1/'{extra}}}\n"


# -- 12.4: the default timeout fits the interval ------------------------------


def test_minimal_one_second_check_is_valid_with_the_interval_as_timeout() -> None:
    """{type: http, url, interval: 1s}: the default timeout is min(defaults.timeout, interval)."""
    config = parse_config(http(", interval: 1s"), "x.yaml", {})
    assert (config.checks[0].interval, config.checks[0].timeout) == (1.0, 1.0)
    config = parse_config("defaults: {timeout: 2s}\n" + http(", interval: 500ms"), "x.yaml", {})
    assert config.checks[0].timeout == 0.5
    config = parse_config("defaults: {timeout: 2s, interval: 1m}\n" + http(), "x.yaml", {})
    assert (config.checks[0].interval, config.checks[0].timeout) == (60.0, 2.0)


def test_an_explicit_timeout_over_the_interval_stays_an_error() -> None:
    """Only the inherited timeout shrinks; one the user wrote is checked as written."""
    found = problems(http(", interval: 1s, timeout: 2s"))
    assert found == [
        "x.yaml:2: checks[0]: timeout (2s) must not exceed interval (1s): "
        "a run would still be going when the next one is due"
    ]


# -- 12.11: one rule for durations ---------------------------------------------


@pytest.mark.parametrize("interval", ["30", '"30"', "30s", '"${CHECK_INTERVAL:-30}"', "'0.5m'"])
def test_a_bare_number_is_seconds_as_number_or_string(interval: str) -> None:
    """30, "30" and "${CHECK_INTERVAL:-30}" all mean 30 seconds."""
    config = parse_config(http(f", interval: {interval}"), "x.yaml", {})
    assert config.checks[0].interval == 30.0


def test_an_interval_from_the_environment_is_seconds() -> None:
    config = parse_config(
        http(', interval: "${CHECK_INTERVAL:-30}"'), "x.yaml", {"CHECK_INTERVAL": "45"}
    )
    assert config.checks[0].interval == 45.0


def test_a_tab_says_tabs_are_not_allowed_with_the_line() -> None:
    found = problems("checks:\n  - name: api\n\ttype: tcp\n")
    assert found == ["x.yaml:3: tabs are not allowed for indentation, line 3: use spaces"]


# -- 12.5: what validate accepts, run and check can use ---------------------------


@pytest.mark.parametrize(
    "name",
    ["redis-port", "storage-postgresql", "postgres-dsn-keyvalue", "tcp-host", "http-port"],
)
def test_validate_refuses_what_the_daemon_cannot_use_in_one_line(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, one line naming the file, the line and the field; no traceback."""
    path = str(BAD / f"{name}.yaml")
    assert main(["validate", "-c", path]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.match(rf"{re.escape(path)}:\d+: [a-z]+(\[\d\])?\.[a-z_.]+: ", err)
    assert "Traceback" not in err
    assert "pw@" not in err


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dsn", "postgresql://u:pw@[::1]:5432/db?sslmode=verify-full"),
        ("dsn", "postgres://u@db1:5432,db2:5433/app?target_session_attrs=read-write"),
        ("dsn", "postgresql:///app?host=/var/run/postgresql"),
    ],
)
def test_valid_postgres_dsns_pass(field: str, value: str) -> None:
    text = f"checks:\n  - {{name: db, type: postgres, {field}: '{value}'}}\n"
    assert parse_config(text, "x.yaml", {}).checks[0].type == "postgres"


@pytest.mark.parametrize(
    "url", ["redis://:pw@127.0.0.1:6379/0", "rediss://h/1?socket_timeout=2", "unix:///run/r.sock"]
)
def test_valid_redis_urls_pass(url: str) -> None:
    text = f"checks:\n  - {{name: r, type: redis, url: '{url}'}}\n"
    assert parse_config(text, "x.yaml", {}).checks[0].type == "redis"


# -- 13.4 / 13.6: bombs, recursion, depth ---------------------------------------


def test_an_alias_bomb_is_refused_at_once() -> None:
    """Ten levels of ten aliases (10^10 nodes expanded) fail at the first alias past the bound."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    found = problems("\n".join([*lines, "checks: *a9"]) + "\n")  # expanded, it would never end
    assert found == ["x.yaml:5: aliases expand to more than 100000 nodes: refused as a YAML bomb"]


def test_too_many_aliases_are_refused() -> None:
    text = "x: &x 1\nlabels: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    assert problems(text) == [f"x.yaml:2: more than {MAX_ALIASES} aliases in one file"]


def test_aliases_and_merge_keys_used_by_many_checks_still_load() -> None:
    """The everyday use of anchors, a shared block merged into every check, stays fine."""
    lines = ["x-common: &common {type: tcp, interval: 10s, labels: {team: core, tier: one}}"]
    lines.append("checks:")
    lines += [f"  - {{<<: *common, name: c{i}, target: '127.0.0.1:{i + 1}'}}" for i in range(2000)]
    text = "\n".join(lines).replace("x-common", "defaults: {interval: 10s}\n_x") + "\n"
    found = problems(text)  # _x is an unknown key: the aliases themselves are accepted
    assert found == ["x.yaml:2: _x: unknown key '_x'"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("defaults: &d {self: *d}\n", "x.yaml:1: alias 'd' refers to a node that contains it"),
        ("checks: " + "[" * 500 + "]" * 500 + "\n", "x.yaml:1: nested deeper than 64 levels"),
        ("checks:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), "nested deeper"),
        ("a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n", "aliases"),
        ("checks: " + "[" * 200_000 + "]" * 200_000 + "\n", "x.yaml:1: nested deeper"),
    ],
    ids=["recursive-alias", "500-deep", "block-deep", "deep-by-alias", "200000-deep"],
)
def test_recursion_and_depth_are_clean_errors(text: str, expected: str) -> None:
    """No RecursionError, no C stack overflow: one line with the line number."""
    found = problems(text)
    assert len(found) == 1
    assert expected in found[0]


# -- 13.5: bytes that are not UTF-8 -----------------------------------------------


def test_invalid_utf8_names_line_and_column_without_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_bytes(
        b"checks:\n  - {name: a, type: tcp, target: 'h:1', description: '\xff\xfe hunter2'}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.problems == [
        f"{path}:2: the file is not UTF-8: invalid byte at column 55 (byte offset 62)"
    ]
    assert "hunter2" not in str(info.value)


def test_invalid_utf8_in_validate_is_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_bytes(b"server:\n  api_token: '\xc3\x28 token-value'\n")
    assert main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"{path}:2: the file is not UTF-8: invalid byte at column 15 (byte offset 22)\n"


@pytest.mark.parametrize(
    "text",
    [
        "a: 'x\x00y'\n",
        "when: 2026-13-45\n",
        "n: " + "9" * 5000 + "\n",
        "? [a, b]\n: 1\n",
        "a: !vault 'abcdefghijklmnopqrstuvwxyz'\n",
        "a: 1\n---\nb: 2\n",
        "a: !!timestamp 'abcdefghijklmnopqrstuvwxyz'\n",
        "a: !abcdefghijklmnopqrstuvwxyz x\n",
    ],
    ids=[
        *("nul", "bad-date", "huge-int", "list-key", "unknown-tag", "two-documents"),
        *("forced-tag", "long-tag"),
    ],
)
def test_odd_yaml_is_a_config_error_naming_a_line(text: str) -> None:
    found = problems(text)
    assert len(found) == 1
    assert re.match(r"x\.yaml:\d+: ", found[0])
    assert "abcdefghijklmnop" not in found[0]


# -- 13.7 / 13.8: accepted but wrong; values never echoed -------------------------


def test_a_secret_typed_as_a_duration_is_not_echoed() -> None:
    found = problems(http(f", interval: '{SECRET}'"))
    assert found == [
        "x.yaml:2: checks[0].interval: invalid duration (not shown: 32 characters): "
        "expected seconds (30) or a duration like 500ms, 30s, 5m, 1h30m, 1d, 1w"
    ]


@pytest.mark.parametrize(
    "field",
    [
        "interval: '{s}'",
        "max_body: '{s}'",
        "labels: {{'{s}': x}}",
        "expect: {{json: {{'{s}': 1}}}}",
    ],
)
def test_no_error_repeats_a_long_value(field: str) -> None:
    found = problems(http(", " + field.format(s=SECRET)))
    assert len(found) == 1
    assert SECRET not in found[0].partition(": ")[2].partition(": ")[2]


def test_a_value_from_the_environment_is_not_echoed() -> None:
    found = problems(http(", interval: '${TOKEN}'"), {"TOKEN": SECRET})
    assert SECRET not in found[0]
    assert "checks[0].interval" in found[0]


@pytest.mark.parametrize("seconds", [2**64, 3650 * 86400 + 1, "18446744073709551616s", ".inf"])
def test_durations_are_bounded_to_ten_years(seconds: object) -> None:
    found = problems(f"storage: {{history: {seconds}}}\n")
    assert found == [
        "x.yaml:1: storage.history: duration longer than 10 years (3650d): "
        "not a duration sentinel can use"
    ]


def test_a_check_keeps_working_with_the_new_rules() -> None:
    config = parse_config(http(", max_body: 512KiB, interval: 1h30m"), "x.yaml", {})
    check = config.checks[0]
    assert isinstance(check, HttpCheck)
    assert (check.max_body, check.interval) == (524288, 5400.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'maintenance:\n  - {name: m, cron: "0 9 * * 1-abcdefghijklmnopqrstuvwxyz", duration: 1h}\n',
            "x.yaml:2: maintenance[0].cron: invalid cron expression (not shown: 36 characters): "
            'Unrecognized expression (not shown) for field "day_of_week"',
        ),
        (
            'contacts:\n  "alice\\n": {email: a@b.c}\n',
            "x.yaml:1: contacts: invalid name (not shown: 6 characters, with a line break or "
            "control character): use letters, digits, '-', '_', '.'",
        ),
        (
            'server: {listen: "0.0.0.0:9464\\n"}\n',
            "x.yaml:1: server.listen: listen address (not shown: 13 characters, with a line break "
            "or control character) must be host:port, e.g. 0.0.0.0:9464",
        ),
    ],
    ids=["cron-echo", "name-newline", "listen-newline"],
)
def test_names_are_matched_whole_and_library_messages_clipped(text: str, expected: str) -> None:
    """Python's $ matched before a trailing newline; croniter quoted the whole field."""
    assert problems(text) == [expected]
