"""The published JSON Schema of the config file: current, valid, and faithful to the loader."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs in dev

from sentinel.cli.main import main
from sentinel.config import ConfigError, HttpCheck, parse_config, parse_duration
from sentinel.config.schema import SCHEMA_DIALECT, SCHEMA_ID, config_schema, render_schema
from sentinel.config.units import parse_size
from tests.examples import PROJECT_EXAMPLE, ROOT

PUBLISHED = ROOT / "docs" / "config.schema.json"
DEMO = ROOT / "config" / "demo.yaml"
MINIMAL_CHECK = {"name": "api", "type": "http", "url": "https://example.com/health"}


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    """A validator of the schema as generated now."""
    return Draft202012Validator(config_schema())


def as_editor_sees(value: Any) -> Any:
    """YAML data as JSON: timestamps PyYAML parsed back to text, keys as strings."""
    if isinstance(value, dict):
        return {str(k): as_editor_sees(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_editor_sees(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def errors(validator: Draft202012Validator, data: Any) -> list[str]:
    """Every problem the schema finds, as path: message."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(data)
    ]


def test_published_schema_is_current() -> None:
    """docs/config.schema.json is exactly what config_schema() generates from the models now."""
    assert PUBLISHED.read_text(encoding="utf-8") == render_schema(), (
        "docs/config.schema.json is out of date with the config models: "
        "run `sentinel schema --output docs/config.schema.json`"
    )


def test_schema_is_valid_draft_2020_12() -> None:
    """The schema is itself a valid Draft 2020-12 schema, with $schema, $id and a title."""
    schema = config_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"]
    assert "x-sentinel" not in render_schema()  # the generator's markers are all resolved


def test_schema_is_deterministic() -> None:
    """Two generations give the same text, so the drift test compares like with like."""
    assert render_schema() == render_schema()
    assert render_schema().endswith("}\n")


@pytest.mark.parametrize("path", [PROJECT_EXAMPLE, DEMO], ids=["project", "demo"])
def test_example_configs_match_schema(validator: Draft202012Validator, path: Path) -> None:
    """The example configs, ${VAR} references still in place, pass the schema."""
    data = as_editor_sees(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert errors(validator, data) == []


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"checkz": []}, ""),
        ({"checks": [{**MINIMAL_CHECK, "type": "htp"}]}, "checks/0"),
        ({"checks": [{"type": "http", "url": "https://example.com/"}]}, "checks/0"),
        ({"checks": [{**MINIMAL_CHECK, "retries": 3}]}, "checks/0"),
        ({"checks": [{**MINIMAL_CHECK, "interval": "5 minutes"}]}, "checks/0"),
        ({"channels": {"ops": {"type": "fax"}}}, "channels/ops"),
        ({"scheduler": {"max_concurrency": "many"}}, "scheduler/max_concurrency"),
    ],
    ids=[
        "unknown-top-level-key",
        "unknown-check-type",
        "check-missing-name",
        "unknown-check-key",
        "bad-duration",
        "unknown-channel-type",
        "not-a-number",
    ],
)
def test_bad_configs_fail_schema(validator: Draft202012Validator, data: Any, where: str) -> None:
    """Mistakes the loader rejects are rejected by the schema too, at the same place."""
    found = errors(validator, data)
    assert found, f"the schema accepted {data}"
    assert any(problem.startswith(f"{where}:") for problem in found), found
    assert not Draft202012Validator(config_schema()).is_valid(data)
    with pytest.raises(ConfigError):
        parse_config(yaml.safe_dump(data), "bad.yaml", {})


@pytest.mark.parametrize(
    "value",
    [
        "500ms",
        "30s",
        "5m",
        "1h30m",
        "1.5h",
        "1d",
        "2w",
        " 30s ",
        30,
        0.5,
        0,
        "5 minutes",
        "30",
        "-5s",
        "1y",
        "",
        -1,
        True,
    ],
)
def test_duration_schema_agrees_with_the_parser(
    validator: Draft202012Validator, value: object
) -> None:
    """A duration passes the schema exactly when units.parse_duration accepts it."""
    try:
        parse_duration(value)
        accepted = True
    except ValueError:
        accepted = False
    data = {"storage": {"history": value}}
    assert validator.is_valid(data) is accepted


@pytest.mark.parametrize(
    "value", ["1048576", "512KiB", "1MiB", "2 MB", "1GiB", 1024, 0, "1.5MiB", "1TB", "big", -1]
)
def test_size_schema_agrees_with_the_parser(validator: Draft202012Validator, value: object) -> None:
    """A size passes the schema exactly when units.parse_size accepts it."""
    try:
        parse_size(value)
        accepted = True
    except ValueError:
        accepted = False
    data = {"checks": [{**MINIMAL_CHECK, "max_body": value}]}
    assert validator.is_valid(data) is accepted


def test_env_references_pass_where_the_loader_substitutes_them(
    validator: Draft202012Validator,
) -> None:
    """${VAR} in number, boolean, duration, secret and pattern fields passes schema and loader."""
    data = {
        "server": {"api_token": "${TOKEN}", "ack_link_ttl": "${TTL:-1h}"},
        "scheduler": {"max_concurrency": "${MAX:-200}"},
        "contacts": {"ops": {"email": "${OPS_EMAIL}", "phone": "${OPS_PHONE}"}},
        "checks": [
            {
                **MINIMAL_CHECK,
                "url": "${API_URL}",
                "follow_redirects": "${FOLLOW:-true}",
                "max_body": "${MAX_BODY:-1MiB}",
                "tls": {"verify": "${VERIFY}"},
            }
        ],
    }
    env = {
        "TOKEN": "t0ken",
        "OPS_EMAIL": "ops@example.com",
        "OPS_PHONE": "+15550100001",
        "API_URL": "https://example.com/",
        "VERIFY": "false",
    }
    assert errors(validator, data) == []
    config = parse_config(yaml.safe_dump(data), "env.yaml", env)
    assert config.scheduler.max_concurrency == 200
    check = config.checks[0]
    assert isinstance(check, HttpCheck)
    assert check.tls.verify is False
    assert check.max_body == 1024 * 1024


def test_lax_scalars_the_loader_reads_pass(validator: Draft202012Validator) -> None:
    """Quoted numbers and YAML 1.1 booleans (yes, off), which the loader reads, pass the schema."""
    data = {
        "scheduler": {"max_concurrency": "250"},
        "checks": [{**MINIMAL_CHECK, "follow_redirects": "yes", "tls": {"verify": "off"}}],
    }
    assert errors(validator, data) == []
    parse_config(json.dumps(data), "lax.yaml", {})


def test_discriminators_are_kept() -> None:
    """Checks and channels keep a discriminator on type, mapping every type to its model."""
    schema = config_schema()
    checks = schema["properties"]["checks"]["items"]
    channels = schema["properties"]["channels"]["additionalProperties"]
    for union in (checks, channels):
        assert union["discriminator"]["propertyName"] == "type"
        assert len(union["discriminator"]["mapping"]) == len(union["oneOf"])
    assert set(checks["discriminator"]["mapping"]) >= {"http", "tcp", "postgres", "heartbeat"}
    assert "slack" in channels["discriminator"]["mapping"]


def test_every_property_has_a_description() -> None:
    """Every key of every section carries a description for the editor to show."""
    schema = config_schema()
    models = [("Config", schema), *schema["$defs"].items()]
    missing = [
        f"{name}.{key}"
        for name, model in models
        for key, prop in model.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == [], "add their descriptions to _FIELDS in sentinel/config/schema.py"


def test_secrets_are_plain_strings_with_their_defaults() -> None:
    """Secret fields are plain strings, and defaults show the value, not pydantic's mask."""
    schema = config_schema()
    storage_url = schema["$defs"]["Storage"]["properties"]["url"]
    assert storage_url["$ref"] == "#/$defs/Secret"
    assert storage_url["default"].startswith("sqlite:")
    assert schema["$defs"]["Secret"]["type"] == "string"
    assert "*****" not in render_schema()


def test_cli_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`sentinel schema` prints the schema as JSON, no config file needed."""
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    assert out == render_schema()
    assert json.loads(out) == config_schema()


def test_cli_writes_the_schema_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sentinel schema --output FILE` writes the same text to FILE and prints nothing."""
    target = tmp_path / "config.schema.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_schema()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("path", [PROJECT_EXAMPLE, DEMO], ids=["project", "demo"])
def test_example_configs_point_editors_at_the_schema(path: Path) -> None:
    """The project's example configs name the published schema on their first line."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../docs/config.schema.json"
    assert (path.parent / "../docs/config.schema.json").resolve() == PUBLISHED.resolve()
