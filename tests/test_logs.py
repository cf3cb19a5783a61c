"""Logs: JSON lines with stable event names, secrets blanked wherever they appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from sentinel.logs import REDACTED, Redactor, configure


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    structlog.reset_defaults()


def test_json_lines_by_default_when_not_a_terminal(stream: io.StringIO) -> None:
    """auto format writes one JSON object per line with the event name and level."""
    configure("info", "auto", Redactor(), stream)
    structlog.get_logger("t").info("check_failed", check="api", reason="connection refused")
    line = json.loads(stream.getvalue().strip())
    assert line["event"] == "check_failed"
    assert line["level"] == "info"
    assert line["check"] == "api"
    assert "timestamp" in line


def test_level_filters_lower_events(stream: io.StringIO) -> None:
    """At warning level, info events are not written."""
    configure("warning", "json", Redactor(), stream)
    log = structlog.get_logger("t")
    log.info("quiet")
    log.warning("loud")
    assert [json.loads(x)["event"] for x in stream.getvalue().splitlines()] == ["loud"]


def test_secrets_are_blanked_in_every_field(stream: io.StringIO) -> None:
    """A configured secret never reaches the output, in any field or inside an exception."""
    redactor = Redactor()
    redactor.set_secrets({"xoxb-very-secret", "hunter2hunter2"})
    configure("info", "json", redactor, stream)
    log = structlog.get_logger("t")
    log.error(
        "store_write_failed",
        url="postgresql://u:hunter2hunter2@db/x",
        note="token xoxb-very-secret",
    )
    log.error("oops", error=ValueError("bad token xoxb-very-secret"))
    text = stream.getvalue()
    assert "hunter2hunter2" not in text
    assert "xoxb-very-secret" not in text
    assert text.count(REDACTED) == 3


def test_console_format_is_readable(stream: io.StringIO) -> None:
    """console format writes a line a person reads, not JSON."""
    configure("info", "console", Redactor(), stream)
    structlog.get_logger("t").info("sentinel_started", checks=3)
    text = stream.getvalue()
    assert "sentinel_started" in text
    assert not text.lstrip().startswith("{")


def test_standard_library_records_are_json_and_redacted(stream: io.StringIO) -> None:
    """A library logging through the standard library (APScheduler, asyncio, aiohttp) gets
    the same JSON line as sentinel's own events, with its logger name, level, traceback,
    and secrets blanked; below warning it is not written."""
    redactor = Redactor()
    redactor.set_secrets({"hunter2hunter2"})
    configure("info", "json", redactor, stream)
    lib = logging.getLogger("apscheduler.executors.default")
    lib.info("Running job (hunter2hunter2)")
    try:
        raise RuntimeError("failed with hunter2hunter2")
    except RuntimeError:
        lib.exception('Run time of job "x" was missed by %s', "0:00:02")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["event"] == 'Run time of job "x" was missed by 0:00:02'
    assert lines[0]["level"] == "error"
    assert lines[0]["logger"] == "apscheduler.executors.default"
    assert "RuntimeError: failed with ***" in lines[0]["exception"]
    assert "hunter2hunter2" not in stream.getvalue()
