"""Random, seeded mutations of the example config, for the fuzz test and bench/config_fuzz.py.

    mutations(count, seed) -> [Mutation(name, raw bytes)]

Half are structural (on the parsed data, written back as YAML): delete a key,
change a scalar's type, duplicate or drop a list item, rename a key, replace a
section. Half are textual (on the file's lines): insert a tab, delete, repeat
or swap lines, cut the file short, insert YAML punctuation, an anchor or an
alias, or a byte that is not UTF-8. The same seed gives the same mutations.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from tests.examples import PROJECT_EXAMPLE

MARKER = "MUTATION-SECRET-0123456789abcdefghij"  # a "secret" typed where it does not belong
ODD_VALUES: list[Any] = [
    0,
    -1,
    1.5,
    2**64,
    float("inf"),
    True,
    None,
    "",
    "30",
    "5m\n",
    "x" * 300,
    MARKER,
    "${SENTINEL_FUZZ_UNSET}",
    "${SENTINEL_FUZZ_UNSET:-30}",
    "\t",
    "http://h:notaport/",
    "postgresql://u:p@h:99999/db",
    "[unclosed",
    [],
    {},
    [MARKER],
    {"k": MARKER},
]
TEXT_INSERTS = ["\t", ":", "- ", "[", "{", "&a ", "*a", "*nope", '"', "'", "? ", "!!binary ", "%"]


@dataclass(frozen=True)
class Mutation:
    name: str
    raw: bytes


def mutations(count: int, seed: int = 1) -> list[Mutation]:
    rng = random.Random(seed)
    text = PROJECT_EXAMPLE.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    out = []
    for i in range(count):
        if i % 2 == 0:
            name, mutated = _structural(rng, data)
            raw = yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True).encode()
        else:
            name, raw = _textual(rng, text)
        out.append(Mutation(f"{i}: {name}", raw))
    return out


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _structural(rng: random.Random, data: Any) -> tuple[str, Any]:
    root = _copy(data)
    path = rng.choice([p for p in _paths(root) if p])
    parent: Any = root
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    value = parent[key]
    where = ".".join(str(p) for p in path)
    choices: list[tuple[str, Callable[[], None]]] = [
        ("retype", lambda: parent.__setitem__(key, _copy(rng.choice(ODD_VALUES)))),
    ]
    if isinstance(parent, dict):
        choices += [
            ("delete key", lambda: parent.pop(key)),
            ("rename key", lambda: parent.__setitem__(f"{key}x", parent.pop(key))),
            ("add unknown key", lambda: parent.__setitem__("surprise", 1)),
        ]
    if isinstance(parent, list):
        choices += [
            ("duplicate item", lambda: parent.insert(key, _copy(value))),
            ("drop item", lambda: parent.pop(key)),
        ]
    if isinstance(value, list) and value:
        choices.append(("empty list", lambda: parent.__setitem__(key, [])))
    name, apply = rng.choice(choices)
    apply()
    return f"{name} at {where}", root


def _textual(rng: random.Random, text: str) -> tuple[str, bytes]:
    lines = text.splitlines(keepends=True)
    n = rng.randrange(len(lines))
    kind = rng.choice(["tab", "delete", "repeat", "swap", "cut", "insert", "bytes"])
    if kind == "tab":
        lines[n] = "\t" + lines[n].lstrip(" ")
    elif kind == "delete":
        del lines[n]
    elif kind == "repeat":
        lines.insert(n, lines[n])
    elif kind == "swap":
        m = rng.randrange(len(lines))
        lines[n], lines[m] = lines[m], lines[n]
    elif kind == "cut":
        cut = "".join(lines)[: rng.randrange(len(text))]
        return f"cut at {len(cut)}", cut.encode()
    elif kind == "insert":
        at = rng.randrange(len(lines[n]) + 1)
        lines[n] = lines[n][:at] + rng.choice(TEXT_INSERTS) + lines[n][at:]
    raw = "".join(lines).encode()
    if kind == "bytes":
        at = rng.randrange(len(raw))
        raw = raw[:at] + bytes([rng.choice([0x80, 0xC3, 0xFF, 0xFE, 0x00, 0x07])]) + raw[at:]
    return f"{kind} line {n + 1}", raw
