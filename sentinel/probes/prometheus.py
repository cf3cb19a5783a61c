"""Prometheus probe: scrape a target's /metrics and keep the chosen series.

Counters are kept as their raw totals (``http_requests_total{code="500"}``),
so rules can take ``rate()`` over them. ``metrics:`` lists names or regular
expressions that must match a family or a sample name whole; with none, every
series is kept, up to a cap that protects memory from a runaway target.
"""

from __future__ import annotations

import re

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from sentinel.clock import Clock
from sentinel.config.checks import PrometheusCheck
from sentinel.config.units import format_duration, format_size
from sentinel.probes.base import ProbeContext
from sentinel.probes.errors import describe_http_error
from sentinel.probes.httpopts import request_headers, ssl_option
from sentinel.results import Outcome, Sample

MAX_BODY = 32 * 1024 * 1024
MAX_SERIES = 20_000
RESERVED = {"up": "target_up", "duration_seconds": "target_duration_seconds"}


def select_samples(text: str, patterns: list[re.Pattern[str]]) -> tuple[list[Sample], int]:
    """Parse the exposition text and keep what ``patterns`` select; also the total count."""
    kept: list[Sample] = []
    total = 0
    for family in text_string_to_metric_families(text):
        family_wanted = not patterns or any(p.fullmatch(family.name) for p in patterns)
        for s in family.samples:
            total += 1
            if family_wanted or any(p.fullmatch(s.name) for p in patterns):
                name = RESERVED.get(s.name, s.name)
                kept.append(Sample(name, float(s.value), tuple(sorted(s.labels.items()))))
    return kept, total


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
                if resp.content_length is not None and resp.content_length > MAX_BODY:
                    return Outcome.failed(f"body exceeds {format_size(MAX_BODY)}")
                body = await resp.content.read(MAX_BODY + 1)
                while len(body) <= MAX_BODY and not resp.content.at_eof():
                    chunk = await resp.content.read(MAX_BODY + 1 - len(body))
                    if not chunk:
                        break
                    body += chunk
                if len(body) > MAX_BODY:
                    return Outcome.failed(f"body exceeds {format_size(MAX_BODY)}")
        except Exception as exc:
            reason = describe_http_error(exc, self._timeout_reason)
            if reason is None:
                raise
            return Outcome.failed(reason)
        try:
            kept, total = select_samples(body.decode("utf-8", errors="replace"), self._patterns)
        except (ValueError, TypeError, IndexError):
            return Outcome.failed("invalid metrics format")
        if len(kept) > MAX_SERIES:
            return Outcome.failed(
                f"{len(kept)} series kept, more than {MAX_SERIES}: narrow metrics:"
            )
        return Outcome(ok=True, samples=(*kept, Sample("scraped_series", float(total))))

    async def close(self) -> None:
        return None
