"""Structured logs: JSON lines by default, readable lines on a terminal.

Events have stable snake_case names (``probe_failed``, ``config_reloaded``).
A redaction step replaces every configured secret with ``***`` wherever it
appears, as a second guard behind SecretStr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "***"


class Redactor:
    """A structlog processor that blanks known secret values in every string field."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is blanked whole.
        self._secrets = tuple(sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if self._secrets:
            for key, value in event.items():
                if isinstance(value, str):
                    event[key] = self.scrub(value)
                elif isinstance(value, BaseException):
                    event[key] = self.scrub(repr(value))
        return event


def configure(level: str, fmt: str, redactor: Redactor, stream: TextIO | None = None) -> None:
    """Set up structlog for the process; ``fmt`` is auto, json or console."""
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # APScheduler logs through the standard library; keep only its warnings.
    logging.basicConfig(level=logging.WARNING, stream=out, format="%(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
