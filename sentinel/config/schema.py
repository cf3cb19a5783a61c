"""A JSON Schema (Draft 2020-12) of the configuration file, for editors.

    config_schema() -> dict          what ``sentinel schema`` prints
    render_schema() -> str           the same as text: indent 2, sorted keys, trailing newline

It is generated from the pydantic models, then shaped for the YAML people write
rather than for the parsed values: durations take ``30s`` as well as seconds,
sizes ``512KiB`` as well as bytes, secrets are plain strings, and wherever a
number, a boolean or a constrained string is expected a string holding a
``${VAR}`` reference is accepted too, because the loader substitutes it before
validation (and pydantic then reads ``"8080"`` as 8080). The ``type`` of a check
or a channel keeps its discriminator so that editors narrow completions. A field's
description is its attribute docstring in the model (``use_attribute_docstrings``).

The published copy is ``docs/config.schema.json``; a test keeps it current.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from sentinel.config.models import Config
from sentinel.config.units import MAX_DURATION, MAX_SIZE, parse_duration, parse_size

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:sentinel:config"  # no hosted copy yet: a name, not an address
SCHEMA_TITLE = "sentinel configuration"

# What the loader replaces (loader._VAR); ``$$`` needs no schema help.
ENV_REFERENCE = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"
# units.parse_duration: a number of seconds, or one or more <number><unit>; no spaces.
DURATION_TEXT = r"^([0-9]+(\.[0-9]+)?|([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+)$"
# units.parse_size: bytes, or a number and a unit.
SIZE_TEXT = r"^[0-9]{1,13} ?(B|KB|KiB|MB|MiB|GB|GiB)?$"
# What pydantic's lax mode reads as an int, a float or a bool from a string.
INTEGER_TEXT = r"^\s*[+-]?\d[\d_]*(\.0*)?\s*$"
NUMBER_TEXT = (
    r"^\s*[+-]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][+-]?\d+)?\s*$"
    r"|^\s*[+-]?([Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?|[Nn][Aa][Nn])\s*$"
)
_BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "t", "f", "y", "n", "1", "0")
BOOLEAN_TEXT = (
    "^("
    + "|".join(
        "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word) for word in _BOOLEAN_WORDS
    )
    + ")$"
)
# pydantic's datetime: ISO 8601 (date alone, or with a time and an optional offset),
# or a Unix timestamp.
DATETIME_TEXT = (
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$"
    r"|^\d+(\.\d+)?$"
)

_KIND = "x-sentinel-kind"  # a marker the generator leaves for the post-processing
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


# Shared definitions added next to the models' own.
_DEFS: dict[str, dict[str, Any]] = {
    "EnvReference": {
        "type": "string",
        "pattern": ENV_REFERENCE,
        "description": (
            "A string holding ${VAR} or ${VAR:-default}: replaced from the environment "
            "when the file loads, before the value is checked."
        ),
    },
    "Duration": {
        "description": (
            "A duration: 500ms, 30s, 5m, 1h, 1d, 1w, combinations such as 1h30m, "
            'or a number of seconds (30 or "30"); at most 10 years (3650d).'
        ),
        "anyOf": [
            {
                "type": "string",
                "pattern": DURATION_TEXT,
                "patternErrorMessage": "seconds, or a duration such as 500ms, 30s, 5m, 1h30m, 1d",
            },
            {"type": "number", "minimum": 0, "maximum": MAX_DURATION},
            _ref("EnvReference"),
        ],
    },
    "Size": {
        "description": "A size: a number of bytes, or 512KiB, 1MiB, 2MB, 1GiB; at most 1 GiB.",
        "anyOf": [
            {
                "type": "string",
                "pattern": SIZE_TEXT,
                "patternErrorMessage": "a size such as 1048576, 512KiB, 1MiB or 2MB",
            },
            {"type": "integer", "minimum": 0, "maximum": MAX_SIZE},
            _ref("EnvReference"),
        ],
    },
    "Secret": {
        "type": "string",
        "description": (
            "A secret, never logged or shown; usually a ${VAR} reference to the environment."
        ),
    },
    "DateTime": {
        "description": (
            "An ISO 8601 time such as 2026-01-05T09:00:00 (an offset such as +01:00 or Z "
            "is optional), or a Unix timestamp."
        ),
        "anyOf": [
            {"type": "string", "pattern": DATETIME_TEXT},
            {"type": "number"},
            _ref("EnvReference"),
        ],
    },
    "IntegerText": {
        "type": "string",
        "pattern": INTEGER_TEXT,
        "description": 'An integer written as a string, as in "500".',
    },
    "NumberText": {
        "type": "string",
        "pattern": NUMBER_TEXT,
        "description": 'A number written as a string, as in "1.5".',
    },
    "BooleanText": {
        "description": "A boolean written as 0 or 1, or as a word: yes, no, on, off, true, false.",
        "anyOf": [
            {"type": "string", "pattern": BOOLEAN_TEXT},
            {"type": "integer", "minimum": 0, "maximum": 1},
        ],
    },
}


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, as published in docs/config.schema.json."""
    schema = Config.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    defs: dict[str, Any] = {}
    for name, sub in schema.pop("$defs", {}).items():
        if name in _DEFS:
            raise RuntimeError(f"a config model is named {name}: rename it in schema._DEFS")
        defs[name] = _shape(sub)
    schema = _shape(schema)
    schema["$defs"] = {**defs, **copy.deepcopy(_DEFS)}
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        **schema,
        "title": SCHEMA_TITLE,
        "description": (
            "sentinel's YAML configuration. ${VAR} and ${VAR:-default} in string values "
            "come from the environment when the file loads."
        ),
    }


def render_schema() -> str:
    """config_schema() as text: indent 2, sorted keys, a trailing newline."""
    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class _Generator(GenerateJsonSchema):
    """pydantic's generator, marking durations and sizes and writing defaults as users would."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        kind = _unit_kind(schema)
        inner = super().function_before_schema(schema)
        if kind is None:
            return inner
        bounds = {k: v for k, v in inner.items() if k != "type"}
        return {_KIND: kind, **bounds}

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" not in json_schema:
            return json_schema
        default = self.get_default_value(schema)
        if isinstance(default, BaseModel):
            # A section's own properties carry their defaults; its dump would hide secrets.
            del json_schema["default"]
        elif isinstance(default, SecretStr):
            json_schema["default"] = default.get_secret_value()
        elif isinstance(default, int | float) and _unit_kind(schema["schema"]) == "Duration":
            json_schema["default"] = _duration_text(float(default))
        return json_schema


def _unit_kind(schema: CoreSchema) -> str | None:
    """The shared definition for a units.Duration or units.Size field, through wrappers."""
    node: Any = schema
    while node.get("type") in ("function-after", "nullable", "default"):
        node = node["schema"]
    if node.get("type") != "function-before":
        return None
    func: Callable[..., Any] = node["function"]["function"]
    if func is parse_duration:
        return "Duration"
    if func is parse_size:
        return "Size"
    return None


def _duration_text(seconds: float) -> str:
    """The largest whole unit: 0 -> 0s, 86400 -> 1d, 7776000 -> 90d, 0.5 -> 500ms."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds == 0:
        return "0s"
    return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


def _shape(node: Any) -> Any:
    """One schema node, children first, reshaped for the YAML users write."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("properties", "$defs", "patternProperties"):
        if isinstance(node.get(key), dict):
            node[key] = {k: _shape(v) for k, v in node[key].items()}
    for prop in node.get("properties", {}).values():  # a field's docstring: one line
        if isinstance(prop, dict) and isinstance(prop.get("description"), str):
            prop["description"] = " ".join(prop["description"].split())
    for key in ("items", "additionalProperties", "not", "contains", "propertyNames"):
        if isinstance(node.get(key), dict):
            node[key] = _shape(node[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(node.get(key), list):
            node[key] = [_shape(v) for v in node[key]]
    for raw, keyword in _BOUNDS.items():  # pydantic leaves gt=0 raw on an optional duration
        if raw in node and keyword not in node:
            node[keyword] = node.pop(raw)
    if "anyOf" in node:
        node["anyOf"] = _flatten(node["anyOf"])
        return node
    return _scalar(node)


def _scalar(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.pop(_KIND, None)
    if kind is not None:
        return {**_ref(kind), **node}
    annotations = {k: node.pop(k) for k in _ANNOTATIONS if k in node}
    kind_of = node.get("type")
    if node.get("format") == "password":
        return {**_ref("Secret"), **annotations}
    if kind_of == "string" and node.get("format") == "date-time":
        return {**_ref("DateTime"), **annotations}
    if kind_of == "integer":
        options = [node, _ref("IntegerText"), _ref("EnvReference")]
    elif kind_of == "number":
        options = [node, _ref("NumberText"), _ref("EnvReference")]
    elif kind_of == "boolean":
        options = [node, _ref("BooleanText"), _ref("EnvReference")]
    elif kind_of == "string" and "const" not in node and node.keys() - {"type"}:
        # A pattern, an enum or a length: "${VAR}" passes once substituted, not as written.
        options = [node, _ref("EnvReference")]
    else:
        return {**node, **annotations}
    return {"anyOf": options, **annotations}


def _flatten(options: list[Any]) -> list[Any]:
    """anyOf members that are bare anyOfs are spliced in; repeats are dropped."""
    out: list[Any] = []
    for option in options:
        inner = (
            option["anyOf"] if isinstance(option, dict) and option.keys() == {"anyOf"} else [option]
        )
        out += [o for o in inner if o not in out]
    return out
