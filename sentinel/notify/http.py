"""What every HTTP notifier shares: one POST with a total timeout, and status rules.

:func:`post` turns the transport's failures into :class:`DeliveryError`::

    TimeoutError              -> DeliveryError(retry=True, reason="timeout")
    aiohttp.InvalidURL        -> DeliveryError(retry=False, reason="config")
    aiohttp.ClientError       -> DeliveryError(retry=True, reason="network")
    a reply (any status)      -> Reply, for the provider's own table

Errors never carry the URL (a Slack webhook URL or a Twilio account SID in the
path is a credential) nor the exception text (aiohttp puts the URL in it), and
:func:`redact` blanks known secrets in anything taken from a provider's reply.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from sentinel.notify.base import DeliveryError
from sentinel.notify.deps import NotifierDeps

REDACTED = "***"
_WORD = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def post(
    session: aiohttp.ClientSession,
    url: str | URL,
    *,
    total: float,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> Reply:
    """POST (or ``method``: Discord edits with PATCH) once. Redirects are not followed:
    a provider API never redirects a POST, and following one would send credentials
    to another host. A :class:`yarl.URL` built with ``encoded=True`` goes out byte
    for byte (a signed query string must not be re-quoted)."""
    try:
        async with session.request(
            method,
            url,
            json=json_body,
            data=form if form is not None else data,
            headers=dict(headers or {}),
            timeout=aiohttp.ClientTimeout(total=total),
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
            return Reply(resp.status, CIMultiDict(resp.headers), body)
    except TimeoutError:
        raise DeliveryError(
            retry=True, reason="timeout", detail=f"no answer within {total:g}s"
        ) from None
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
        # A URL that cannot be requested will not get better by retrying.
        raise DeliveryError(retry=False, reason="config", detail="invalid URL") from None
    except aiohttp.ClientError as exc:
        # The exception's text names the URL: keep only its class.
        raise DeliveryError(retry=True, reason="network", detail=type(exc).__name__) from None


class HttpNotifier:
    """What every provider notifier shares (:class:`NotifierDeps`): the caller's session,
    the renderer, the clock reading for rate-limit headers, and the per-request timeout."""

    def __init__(self, deps: NotifierDeps, name: str) -> None:
        if deps.session is None:
            raise TypeError(f"{type(self).__name__} posts over HTTP: it needs a session")
        self.name = name
        self._session = deps.session
        self._renderer = deps.renderer
        self._now = deps.now
        self._timeout = deps.timeout

    async def close(self) -> None:
        """Nothing to release: the session belongs to the caller."""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds to wait: integer or fractional seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def parse_reset(value: str | None, now: float) -> float | None:
    """``X-RateLimit-Reset`` (epoch seconds) as seconds to wait from ``now``."""
    if not value:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(reset):
        return None
    return max(0.0, reset - now)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret (of 4 characters or more) replaced by ``***``."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def short(text: str, secrets: Iterable[str] = (), limit: int = 200) -> str:
    """A provider's message, one line, shortened and with secrets blanked, for ``detail``."""
    line = " ".join(redact(text, secrets).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def word(text: str) -> str:
    """A snake_case error code (Slack's ``invalid_payload``) from a reply, else "": only
    a code is kept, never free text that might echo what was sent."""
    text = text.strip()
    return text if _WORD.match(text) else ""


def transient(
    reply: Reply, now: float, *, retry_after: Callable[[Reply, float], float | None] | None = None
) -> DeliveryError | None:
    """The retryable answers every provider shares: 429 and 5xx. None for anything else."""
    wait = retry_after(reply, now) if retry_after else None
    if reply.status == 429:
        return DeliveryError(retry=True, reason="rate_limited", detail="HTTP 429", retry_after=wait)
    if 500 <= reply.status <= 599:
        return DeliveryError(
            retry=True,
            reason="server_error",
            detail=f"HTTP {reply.status}",
            retry_after=wait,
        )
    return None


def retry_after_header(reply: Reply, now: float) -> float | None:
    return parse_retry_after(reply.headers.get("Retry-After"), now)


def unexpected(reply: Reply) -> DeliveryError:
    """A status the provider's contract does not list: permanent, so a person looks."""
    return DeliveryError(retry=False, reason="unexpected_status", detail=f"HTTP {reply.status}")


def refused(reply: Reply, reasons: Mapping[int, str], code: object = None) -> DeliveryError:
    """A permanent error for a status in the provider's table (``reasons``), naming the
    provider's error code when it sent one (:func:`with_code`)."""
    return DeliveryError(retry=False, reason=reasons[reply.status], detail=with_code(reply, code))


def with_code(reply: Reply, code: object = None) -> str:
    """``HTTP 401``, and the provider's error code when it sent one (``HTTP 401: code 50027``)."""
    return f"HTTP {reply.status}" + (f": {code}" if code not in (None, "") else "")


def refusal(
    reply: Reply,
    now: float,
    permanent: Mapping[int, str],
    describe: Callable[[Reply], str],
    *,
    retry_after: Callable[[Reply, float], float | None] | None = None,
) -> DeliveryError:
    """The error for a reply that is not a success: 429 and 5xx retried (:func:`transient`),
    a status of ``permanent`` for good with its reason and ``describe(reply)``, any other
    status :func:`unexpected`."""
    error = transient(reply, now, retry_after=retry_after)
    if error:
        return error
    if reply.status in permanent:
        return DeliveryError(retry=False, reason=permanent[reply.status], detail=describe(reply))
    return unexpected(reply)
