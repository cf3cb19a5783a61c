"""The one plain-text table of the command line (``check``, ``oncall``, ``report``,
``silence``, ``ack``): columns two spaces apart, no trailing blanks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime


def render_table(header: Sequence[str] | None, rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns, the header (if any) as given on the first line."""
    lines = [list(header), *rows] if header is not None else list(rows)
    if not lines:
        return ""
    widths = [max(len(str(v)) for v in col) for col in zip(*lines, strict=True)]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in lines
    )


def minute(iso: str | None) -> str:
    """An ISO 8601 time for a table: ``2026-01-05T17:00:00+00:00`` -> ``2026-01-05 17:00Z``."""
    if iso is None:
        return "-"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")
