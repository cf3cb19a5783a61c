"""How an error message shows a value from the config file: only when it is short.

A value may be a secret typed in the wrong place (a token where a duration
belongs), so errors repeat at most ``MAX_SHOWN`` printable characters of it
and otherwise say only how long it was; the message then says what was
expected instead.
"""

from __future__ import annotations

import re

MAX_SHOWN = 16
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def shown(value: object) -> str:
    """``'5 minutes'``; or ``(not shown: 40 characters)`` for anything longer or unprintable."""
    text = value if isinstance(value, str) else repr(value)
    if not text.isprintable():
        return f"(not shown: {len(text)} characters, with a line break or control character)"
    if len(text) <= MAX_SHOWN:
        return repr(value) if isinstance(value, str) else text
    return f"(not shown: {len(text)} characters)"


def clip_quoted(message: str) -> str:
    """A library's message with each quoted piece longer than MAX_SHOWN replaced:
    PyYAML, croniter and int() quote what they found, and that may be a secret."""
    return _QUOTED.sub(lambda m: m[0] if len(m[0]) <= MAX_SHOWN + 2 else "(not shown)", message)
