"""Durations as users write them: ``500ms``, ``30s``, ``5m``, ``1h30m``, ``1d``, ``1w``.

One rule for numbers and strings: a bare number means seconds, whether YAML
read it as a number (``30``) or a string (``"30"``, ``"${INTERVAL:-30}"``).
Parsed values are float seconds, at most ``MAX_DURATION`` (10 years). Sizes
are bytes, at most ``MAX_SIZE``. Errors never repeat a long value (it may be
a secret typed in the wrong place): they say what was expected instead.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

from sentinel.config.quote import shown

MAX_DURATION = 3650 * 86400.0  # 10 years: a year of history, 30-day SLO windows, with room
MAX_SIZE = 1024**3  # 1 GiB
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w))+")
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
DURATION_EXPECTED = "expected seconds (30) or a duration like 500ms, 30s, 5m, 1h30m, 1d, 1w"


def parse_duration(value: object) -> float:
    """Seconds in ``value``; raises ValueError with a message fit for a config error."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration: {DURATION_EXPECTED}")
    if isinstance(value, str):
        if _SECONDS.fullmatch(value):
            seconds = float(value)
        elif _WHOLE.fullmatch(value):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))
        else:
            raise ValueError(f"invalid duration {shown(value)}: {DURATION_EXPECTED}")
    elif math.isnan(value) or value < 0:
        raise ValueError(f"invalid duration: {DURATION_EXPECTED}, not negative")
    else:
        seconds = float(value)
    if seconds > MAX_DURATION:
        raise ValueError("duration longer than 10 years (3650d): not a duration sentinel can use")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest natural spelling: 0.5 -> ``500ms``, 300 -> ``5m``, 5400 -> ``1h30m``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A config field holding a duration, stored as float seconds."""


_SIZE = re.compile(r"([0-9]{1,13}) ?(B|KB|KiB|MB|MiB|GB|GiB)?")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}
SIZE_EXPECTED = "expected bytes (1048576) or a size like 512KiB, 1MiB, 2MB, 1GiB"


def parse_size(value: object) -> int:
    """Bytes in ``value``: ``1048576``, ``512KiB``, ``1MiB``, ``2MB``."""
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        size = value
    elif isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if m:
            size = int(m.group(1)) * _SIZE_UNITS[m.group(2)]
    if size is None:
        raise ValueError(f"invalid size {shown(value)}: {SIZE_EXPECTED}")
    if size > MAX_SIZE:
        raise ValueError("size larger than 1 GiB: not a size sentinel can use")
    return size


def format_size(n: int) -> str:
    """``1048576`` -> ``1 MiB``; used in failure reasons."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


Size = Annotated[int, BeforeValidator(parse_size)]
"""A config field holding a size in bytes."""
