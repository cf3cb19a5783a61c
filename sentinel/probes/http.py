"""HTTP probe: one request, then status, headers, body and JSON assertions.

Everything that can be prepared is prepared once in ``__init__`` (headers,
auth, TLS context, compiled regexes and JSON paths, the reason texts), since
``run`` is the hot path: thousands of runs a minute.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp

from sentinel.clock import Clock
from sentinel.config.checks import HttpCheck
from sentinel.config.units import format_duration
from sentinel.probes.base import ProbeContext
from sentinel.probes.body import BodyTooLarge, off_loop, read_body
from sentinel.probes.certs import ChainCache, presented_chain
from sentinel.probes.errors import describe_http_error
from sentinel.probes.httpopts import request_headers, ssl_option
from sentinel.probes.jsonpath import MISSING, JsonPath
from sentinel.probes.results import Outcome, Sample

DEFAULT_STATUSES = frozenset(range(200, 400))
SHOWN = 60  # characters of an unexpected value shown in a reason
OFF_LOOP = 256 * 1024  # bodies larger than this are judged in a worker thread


def _show(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _matches(actual: Any, expected: Any) -> bool:
    if actual == expected and type(actual) is type(expected):
        return True
    if isinstance(actual, bool) != isinstance(expected, bool):
        return _show(actual) == _show(expected)
    return bool(actual == expected) or _show(actual) == _show(expected)


class HttpProbe:
    def __init__(self, check: HttpCheck, ctx: ProbeContext) -> None:
        self._clock: Clock = ctx.clock
        self._sessions = ctx.http_sessions
        self._own: aiohttp.ClientSession | None = None
        self._fresh = check.fresh_connection
        self._method = check.method
        self._url = check.url
        self._https = check.url.startswith("https://")
        self._redirects = check.follow_redirects
        self._max_redirects = check.max_redirects
        self._max_body = check.max_body
        self._timeout = aiohttp.ClientTimeout(total=check.timeout)
        self._timeout_reason = f"timeout after {format_duration(check.timeout)}"

        headers = request_headers(check.headers, check.auth)
        self._data: bytes | None = None
        if isinstance(check.body, str):
            self._data = check.body.encode()
        elif check.body is not None:
            self._data = json.dumps(check.body).encode()
            headers.setdefault("Content-Type", "application/json")
        self._headers = headers

        self._ssl, self._setup_error = ssl_option(check.tls)

        expect = check.expect
        self._statuses = frozenset(expect.status) if expect.status else DEFAULT_STATUSES
        shown = "[" + ", ".join(str(s) for s in expect.status) + "]" if expect.status else "200-399"
        self._status_list = shown
        self._body_re = re.compile(expect.body_matches) if expect.body_matches else None
        self._body_not_re = re.compile(expect.body_not_matches) if expect.body_not_matches else None
        self._header_checks = [
            (name, name.lower(), re.compile(pattern), pattern)
            for name, pattern in expect.headers.items()
        ]
        self._json_checks = [(JsonPath(path), want) for path, want in expect.json_.items()]
        self._extract = [(name, JsonPath(path)) for name, path in check.extract.items()]
        self._need_text = self._body_re is not None or self._body_not_re is not None
        self._need_json = bool(self._json_checks or self._extract)
        self._chains = ChainCache()

    def _session(self) -> aiohttp.ClientSession:
        if not self._fresh:
            return self._sessions.shared()
        if self._own is None or self._own.closed:
            self._own = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    force_close=True, local_addr=self._sessions.local_addr
                ),
                trust_env=False,
            )
        return self._own

    async def run(self) -> Outcome:
        if self._setup_error is not None:
            return Outcome.failed(self._setup_error)
        samples: list[Sample] = []
        try:
            async with self._session().request(
                self._method,
                self._url,
                headers=self._headers,
                data=self._data,
                allow_redirects=self._redirects,
                max_redirects=self._max_redirects,
                timeout=self._timeout,
                ssl=self._ssl,
            ) as resp:
                samples.append(Sample("status_code", float(resp.status)))
                if self._https:
                    samples.extend(self._cert_samples(resp))
                reason = self._judge_head(resp)
                if reason is not None:
                    return Outcome.failed(reason, tuple(samples))
                body = await read_body(resp, self._max_body)
                charset = resp.get_encoding() if resp.charset else "utf-8"
        except BodyTooLarge as exc:
            return Outcome.failed(str(exc), tuple(samples))
        except Exception as exc:
            failure: str | None
            if isinstance(exc, aiohttp.TooManyRedirects):
                failure = f"too many redirects ({self._max_redirects})"
            else:
                failure = describe_http_error(exc, self._timeout_reason)
            if failure is None:
                raise  # not a request failure: the runner reports it as a probe bug
            return Outcome.failed(failure, tuple(samples))
        samples.append(Sample("content_length", float(len(body))))
        if len(body) > OFF_LOOP:
            reason, found = await off_loop(lambda _: self._judge_body(body, charset))
        else:
            reason, found = self._judge_body(body, charset)
        samples.extend(found)
        if reason is not None:
            return Outcome.failed(reason, tuple(samples))
        return Outcome(ok=True, samples=tuple(samples))

    def _judge_head(self, resp: aiohttp.ClientResponse) -> str | None:
        """The first unmet expectation on the status and headers, or None."""
        if resp.status not in self._statuses:
            return f"status {resp.status} not in {self._status_list}"
        for name, lower, pattern, text in self._header_checks:
            value = resp.headers.get(lower)
            if value is None:
                return f"header {name} missing"
            if not pattern.search(value):
                return f"header {name}: {_show(value)!r} does not match /{text}/"
        return None

    def _judge_body(self, body: bytes, charset: str) -> tuple[str | None, list[Sample]]:
        """The first unmet expectation on the body, or None, and the extracted samples.

        Pure and thread-safe: large bodies are judged in a worker thread."""
        try:
            return self._judge_document(body, charset)
        except RecursionError:
            return "invalid JSON (nested too deep)", []

    def _judge_document(self, body: bytes, charset: str) -> tuple[str | None, list[Sample]]:
        samples: list[Sample] = []
        if self._need_text:
            try:
                text = body.decode(charset, errors="replace")
            except LookupError:  # a charset Python does not know
                text = body.decode("utf-8", errors="replace")
            if self._body_re is not None and not self._body_re.search(text):
                return f"body does not match /{self._body_re.pattern}/", samples
            if self._body_not_re is not None and self._body_not_re.search(text):
                return f"body matches /{self._body_not_re.pattern}/", samples
        if not self._need_json:
            return None, samples
        try:
            document = json.loads(body)
        except UnicodeDecodeError:
            return "invalid JSON (not UTF-8)", samples
        except ValueError:
            return "invalid JSON", samples
        for path, want in self._json_checks:
            got = path.find(document)
            if got is MISSING:
                return f"{path.text}: not found", samples
            if isinstance(want, list):
                if not any(_matches(got, w) for w in want):
                    allowed = ", ".join(_show(w) for w in want)
                    return f"{path.text}: expected one of [{allowed}], got {_show(got)}", samples
            elif not _matches(got, want):
                return f"{path.text}: expected {_show(want)}, got {_show(got)}", samples
        for name, path in self._extract:
            got = path.find(document)
            if got is MISSING or got is None:
                return f"extract {name}: {path.text} not found", samples
            try:
                samples.append(Sample(name, float(got)))
            except (TypeError, ValueError, OverflowError):
                return f"extract {name}: {path.text} is not a number", samples
        return None, samples

    def _cert_samples(self, resp: aiohttp.ClientResponse) -> list[Sample]:
        """``cert_expiry_seconds`` (the server's certificate) and ``chain_expiry_seconds``
        (the first of the presented chain to expire, labelled with its subject)."""
        connection = resp.connection
        transport = connection.transport if connection is not None else None
        if transport is None:
            # A small body can be read whole with the headers, and the connection
            # handed back to the pool before we look; its protocol still holds the
            # (kept-alive) transport. aiohttp has no public accessor for this.
            protocol = getattr(resp.content, "_protocol", None)
            transport = getattr(protocol, "transport", None)
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        chain = self._chains.read(presented_chain(ssl_object)) if ssl_object is not None else None
        if chain is None:
            return []
        now = self._clock.now().timestamp()
        return [
            Sample("cert_expiry_seconds", chain.leaf.not_after - now),
            Sample(
                "chain_expiry_seconds",
                chain.earliest.not_after - now,
                (("subject", chain.earliest.subject),),
            ),
        ]

    async def close(self) -> None:
        if self._own is not None and not self._own.closed:
            await self._own.close()
        self._own = None


__all__ = ["HttpProbe"]
