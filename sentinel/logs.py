"""Structured logs: JSON lines by default, readable lines on a terminal.

Events have stable snake_case names (``probe_failed``, ``config_reloaded``).
A redaction step replaces every configured secret with ``***`` wherever it
appears, as a second guard behind SecretStr.

Libraries log through the standard library (APScheduler's "Run time of job
... was missed", asyncio's "Task exception was never retrieved", aiohttp's
server errors, Python warnings): a handler on the root logger renders their
records with the same processors, redactor and renderer, so under
``SENTINEL_LOG_FORMAT=json`` every line on the stream is one JSON object.
The event loop's exception handler (:func:`loop_exception_handler`) logs as
sentinel's own events do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "***"
_handler: logging.Handler | None = None  # the root handler configure() installed last


class Redactor:
    """A structlog processor that blanks known secret values in every string field."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is blanked whole.
        self._secrets = tuple(sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True))

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self.set_secrets({*self._secrets, *secrets})

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
    """Set up structlog, and the standard library's root logger, for the process;
    ``fmt`` is auto, json or console."""
    global _handler
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    threshold = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redactor, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redactor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    _handler = handler
    # Libraries speak at warning and above (APScheduler's info lines are per job run).
    root.setLevel(max(logging.WARNING, threshold))
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, threshold))
    logging.captureWarnings(True)


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What the event loop reports (a task's exception never retrieved, a callback that
    raised) as one ``event_loop_error`` event, traceback included, secrets blanked."""
    exc = context.get("exception")
    structlog.get_logger("asyncio").error(
        "event_loop_error",
        message=str(context.get("message", "")),
        error=type(exc).__name__ if isinstance(exc, BaseException) else None,
        exc_info=exc if isinstance(exc, BaseException) else None,
    )


def log_uncaught(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    """``sys.excepthook``: a crash is one ``sentinel_crashed`` event, not a bare traceback."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    structlog.get_logger("sentinel").critical(
        "sentinel_crashed", error=kind.__name__, exc_info=(kind, exc, tb)
    )


def log_thread_crash(args: threading.ExceptHookArgs) -> None:
    """``threading.excepthook``: a thread's crash is one JSON event too."""
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    structlog.get_logger("sentinel").error(
        "thread_crashed",
        thread=args.thread.name if args.thread is not None else None,
        error=args.exc_type.__name__,
        exc_info=args.exc_value,
    )


def reset() -> None:
    """Remove the root handler :func:`configure` installed (tests whose stream closes)."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None


@contextlib.contextmanager
def warnings_only() -> Iterator[None]:
    """Within the block, only warnings and errors are logged (``sentinel simulate``)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)
