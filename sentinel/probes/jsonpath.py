"""JSON paths compiled once (jsonpath-ng) and looked up on every run."""

from __future__ import annotations

from typing import Any

from jsonpath_ng import parse  # type: ignore[attr-defined]

_MISSING = object()


class JsonPath:
    def __init__(self, path: str) -> None:
        self.text = path
        self._compiled: Any = parse(path)

    def find(self, document: Any) -> Any:
        """The first value at this path, or ``MISSING``."""
        matches = self._compiled.find(document)
        return matches[0].value if matches else _MISSING


MISSING = _MISSING
