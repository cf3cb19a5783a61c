"""How an error message shows a value from the config file: only when it is short.

A value may be a secret typed in the wrong place (a token where a duration
belongs), so errors repeat at most ``MAX_SHOWN`` printable characters of it
and otherwise say only how long it was; the message then says what was
expected instead.
"""

from __future__ import annotations

MAX_SHOWN = 16


def shown(value: object) -> str:
    """``'5 minutes'``; or ``(not shown: 40 characters)`` for anything longer or unprintable."""
    text = value if isinstance(value, str) else repr(value)
    if not text.isprintable():
        return f"(not shown: {len(text)} characters, with a line break or control character)"
    if len(text) <= MAX_SHOWN:
        return repr(value) if isinstance(value, str) else text
    return f"(not shown: {len(text)} characters)"
