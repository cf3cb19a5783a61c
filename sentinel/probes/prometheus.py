"""Prometheus probe: scrape a target's /metrics and keep the chosen series.

Counters are kept as their raw totals (``http_requests_total{code="500"}``),
so rules can take ``rate()`` over them. ``metrics:`` lists names or regular
expressions that must match a family or a sample name whole; with none, every
series is kept, up to a cap that protects memory from a runaway target.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from typing import TextIO, cast

import aiohttp
from prometheus_client.parser import text_fd_to_metric_families

from sentinel.clock import Clock
from sentinel.config.checks import PrometheusCheck
from sentinel.config.units import format_duration
from sentinel.probes.base import ProbeContext
from sentinel.probes.body import BodyTooLarge, Stopped, off_loop, read_body
from sentinel.probes.errors import describe_http_error
from sentinel.probes.httpopts import request_headers, ssl_option
from sentinel.probes.results import Outcome, Sample

MAX_BODY = 32 * 1024 * 1024
OFF_LOOP = 16 * 1024  # the text parser is slow (about 40 us a line): parse more off the loop
MAX_SERIES = 20_000
RESERVED = {"up": "target_up", "duration_seconds": "target_duration_seconds"}


def select_samples(
    text: str, patterns: list[re.Pattern[str]], stop: threading.Event | None = None
) -> tuple[list[Sample], int]:
    """Parse the exposition text and keep what ``patterns`` select; also the total count.

    Stops with ``Stopped`` soon after ``stop`` is set (checked every few thousand lines)."""
    kept: list[Sample] = []
    total = 0
    lines = cast(TextIO, _lines(text, stop))  # the parser only iterates over its file
    for family in text_fd_to_metric_families(lines):
        family_wanted = not patterns or any(p.fullmatch(family.name) for p in patterns)
        for s in family.samples:
            total += 1
            if family_wanted or any(p.fullmatch(s.name) for p in patterns):
                name = RESERVED.get(s.name, s.name)
                kept.append(Sample(name, float(s.value), tuple(sorted(s.labels.items()))))
    return kept, total


def _lines(text: str, stop: threading.Event | None) -> Iterator[str]:
    for n, line in enumerate(io.StringIO(text)):
        if stop is not None and n % 4096 == 0 and stop.is_set():
            raise Stopped
        yield line


def parse(body: bytes, patterns: list[re.Pattern[str]], stop: threading.Event | None) -> Outcome:
    """The outcome of one scrape's body (pure; large bodies are parsed in a worker thread)."""
    try:
        kept, total = select_samples(body.decode("utf-8", errors="replace"), patterns, stop)
    except (ValueError, TypeError, IndexError, KeyError):
        return Outcome.failed("invalid metrics format")
    if len(kept) > MAX_SERIES:
        return Outcome.failed(f"{len(kept)} series kept, more than {MAX_SERIES}: narrow metrics:")
    return Outcome(ok=True, samples=(*kept, Sample("scraped_series", float(total))))


class PrometheusProbe:
    def __init__(self, check: PrometheusCheck, ctx: ProbeContext) -> None:
        self._clock: Clock = ctx.clock
        self._sessions = ctx.http_sessions
        self._url = check.url
        self._timeout = aiohttp.ClientTimeout(total=check.timeout)
        self._timeout_reason = f"timeout after {format_duration(check.timeout)}"
        self._headers = request_headers(
            {"Accept": "text/plain;version=0.0.4", **check.headers}, check.auth
        )
        self._ssl, self._setup_error = ssl_option(check.tls)
        self._patterns = [re.compile(p) for p in check.metrics]

    async def run(self) -> Outcome:
        if self._setup_error is not None:
            return Outcome.failed(self._setup_error)
        try:
            async with self._sessions.shared().get(
                self._url, headers=self._headers, timeout=self._timeout, ssl=self._ssl
            ) as resp:
                if resp.status != 200:
                    return Outcome.failed(f"status {resp.status} not in [200]")
                body = await read_body(resp, MAX_BODY)
        except BodyTooLarge as exc:
            return Outcome.failed(str(exc))
        except Exception as exc:
            reason = describe_http_error(exc, self._timeout_reason)
            if reason is None:
                raise
            return Outcome.failed(reason)
        if len(body) <= OFF_LOOP:
            return parse(body, self._patterns, None)
        return await off_loop(lambda stop: parse(body, self._patterns, stop))

    async def close(self) -> None:
        return None
