"""Reading a config file: YAML, ``${VAR}`` interpolation, validation, and errors
that name the file, the path and the line.

    load_config(path, env) -> Config      or raises ConfigError
    ConfigError.problems                  ["sentinel.yaml:14: checks[2].interval: invalid ..."]

load_config is a plain synchronous function that does only file I/O and CPU
work: the daemon calls it off the event loop (``asyncio.to_thread``) on a
reload. Whatever the file holds, it returns a Config or raises ConfigError;
the YAML is read with bounds (yamlread) so a hostile file cannot exhaust
memory, recurse without end, or get its bytes echoed into an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from sentinel.config.addresses import placeholders_allowed
from sentinel.config.models import Config
from sentinel.config.quote import shown
from sentinel.config.references import find_problems
from sentinel.config.yamlread import MAX_FILE_BYTES, YamlError, decode, read_yaml

Loc = tuple[str | int, ...]
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A config file that cannot be used, with one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_config(path: str | Path, env: Mapping[str, str], *, placeholders: bool = False) -> Config:
    """``placeholders``: a ``${VAR}`` that is not set and has no default reads as ``<VAR>``
    instead of being a problem (``sentinel simulate``, which sends nothing)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB: not a config file"])
    try:
        text = decode(raw)
    except YamlError as exc:
        raise ConfigError([f"{path}:{exc.line}: {exc.problem}"]) from None
    return parse_config(text, str(path), env, placeholders=placeholders)


def parse_config(
    text: str, source: str, env: Mapping[str, str], *, placeholders: bool = False
) -> Config:
    try:
        root, data = read_yaml(text)
    except YamlError as exc:
        raise ConfigError([f"{source}:{exc.line}: {exc.problem}"]) from None
    if data is None:
        data = {}
    problems: list[tuple[Loc, str]] = []
    if root is not None:
        _walk(root, (), None, problems)
    # The node tree is not read again: freed before the models are made, so they take
    # its place; the line of each path is worked out only for an error message, from
    # the text read again (10,000 checks and 10,000 SLOs: 172 -> ? MB peak RSS).
    root = None
    if not isinstance(data, dict):
        raise ConfigError([f"{source}:1: the top level must be a mapping of sections"])
    raw, data = data, _interpolate(data, (), env, problems, placeholders)
    if problems:
        raise ConfigError(_render(problems, source, _lines(text)))
    try:
        with placeholders_allowed() if placeholders else nullcontext():
            config = Config.model_validate(data)
    except ValidationError as exc:
        found = [(_data_path(err, data), _message(err)) for err in exc.errors()]
        raise ConfigError(_render(found, source, _lines(text))) from None
    config._from_env = frozenset(_interpolated(raw, data))
    references = find_problems(config)
    if references:
        raise ConfigError(_render(references, source, _lines(text)))
    return config


def _lines(text: str) -> dict[Loc, int]:
    """The line of every path of a text already read once without error."""
    root, _ = read_yaml(text)
    lines: dict[Loc, int] = {}
    if root is not None:
        _walk(root, (), lines, [])
    return lines


def _walk(
    node: yaml.Node, path: Loc, lines: dict[Loc, int] | None, problems: list[tuple[Loc, str]]
) -> None:
    """Record the line of every path (unless ``lines`` is None), and flag keys given
    twice (YAML keeps the last)."""
    if lines is not None:
        lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or a mapping as a key: pydantic refuses it, with the path
            key = str(key_node.value)
            if key == "<<":
                continue
            child = (*path, key)
            if key in seen:
                problems.append((child, f"key {key!r} is given twice"))
            seen.add(key)
            if lines is not None:
                lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, problems)


def _interpolate(
    value: Any,
    path: Loc,
    env: Mapping[str, str],
    problems: list[tuple[Loc, str]],
    placeholders: bool = False,
) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in string values; ``$$`` is a literal ``$``."""
    if isinstance(value, str):

        def replace(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            if placeholders:
                return f"<{name}>"
            problems.append((path, f"environment variable {name} is not set"))
            return ""

        return _VAR.sub(replace, value) if "$" in value else value
    # A mapping or list with nothing to replace is returned as it is, not copied: the
    # parse holds one tree, not two.
    if isinstance(value, dict):
        changed: dict[Any, Any] | None = None
        for k, v in value.items():
            new = _interpolate(v, (*path, str(k)), env, problems, placeholders)
            if new is not v:
                changed = dict(value) if changed is None else changed
                changed[k] = new
        return value if changed is None else changed
    if isinstance(value, list):
        items: list[Any] | None = None
        for i, v in enumerate(value):
            new = _interpolate(v, (*path, i), env, problems, placeholders)
            if new is not v:
                items = list(value) if items is None else items
                items[i] = new
        return value if items is None else items
    return value


def _data_path(err: Any, data: Any) -> Loc:
    """Pydantic's location without its union tags and validator names, as in the file."""
    loc: Loc = err["loc"]
    names_key = err["type"] in ("missing", "extra_forbidden")
    out: list[str | int] = []
    node: Any = data
    for i, part in enumerate(loc):
        if isinstance(node, dict):
            found = part in node
        else:
            found = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if found:
            out.append(part)
            node = node[part]
        elif names_key and i == len(loc) - 1 and isinstance(node, dict):
            out.append(part)  # a missing or unknown key
        # anything else is a tag pydantic adds (the check type, a validator name)
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        out.append(err["ctx"]["discriminator"].strip("'"))
    return tuple(out)


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key {err['loc'][-1]!r}"
    if kind in ("missing", "union_tag_not_found"):
        return "required but missing"
    if kind == "union_tag_invalid":
        ctx = err["ctx"]
        return f"unknown type {shown(ctx['tag'])}; expected one of {ctx['expected_tags']}"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def format_path(path: Loc) -> str:
    """("checks", 2, "interval") -> ``checks[2].interval``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "(top level)"


def _line(path: Loc, lines: dict[Loc, int]) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _render(problems: list[tuple[Loc, str]], source: str, lines: dict[Loc, int]) -> list[str]:
    ordered = sorted(problems, key=lambda p: _line(p[0], lines))
    return [f"{source}:{_line(p, lines)}: {format_path(p)}: {msg}" for p, msg in ordered]


def _interpolated(raw: Any, done: Any) -> Iterator[str]:
    """The strings ``${VAR}`` interpolation produced (``raw`` before, ``done`` after)."""
    if isinstance(raw, str):
        if "${" in raw and isinstance(done, str) and done:
            yield done
    elif isinstance(raw, dict) and isinstance(done, dict):
        for key, value in raw.items():
            yield from _interpolated(value, done.get(key))
    elif isinstance(raw, list) and isinstance(done, list):
        for before, after in zip(raw, done, strict=False):
            yield from _interpolated(before, after)


def env_values(config: Config) -> frozenset[str]:
    """Every non-empty string value of a config that came through ``${VAR}``."""
    return config._from_env


def secret_values(model: BaseModel) -> set[str]:
    """Every non-empty secret in a config, for the log redactor."""
    found: set[str] = set()
    for value in _values(model):
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret:
                found.add(secret)
    return found


def _values(obj: Any) -> Iterator[Any]:
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _values(getattr(obj, name))
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _values(v)
    else:
        yield obj
