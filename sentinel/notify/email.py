"""Email through SendGrid's v3 mail send.

``POST {api_url}/v3/mail/send`` with ``Authorization: Bearer``, JSON with
one personalization, ``text/plain`` content first then ``text/html``
(docs/providers.md, "SendGrid email"). 202 is success (``X-Message-Id`` kept as
the ref); 400/401/403/413 are permanent; 429 waits until
``X-RateLimit-Reset`` (epoch seconds, so it needs ``now``); 5xx is retried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from sentinel.config.models import EmailChannel
from sentinel.notify.base import DeliveryError, Notice, Sent
from sentinel.notify.http import (
    DEFAULT_TIMEOUT,
    HttpNotifier,
    Reply,
    parse_reset,
    post,
    refusal,
    short,
)
from sentinel.notify.render import Renderer

MAX_RECIPIENTS = 1000
PERMANENT = {400: "bad_request", 401: "auth", 403: "forbidden", 413: "too_large"}


def recipients(addresses: Iterable[str]) -> list[str]:
    """Addresses in order, without blanks or duplicates (SendGrid rejects a repeated
    address, comparing without case)."""
    seen: set[str] = set()
    out: list[str] = []
    for address in addresses:
        address = address.strip()
        if address and address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


def addressees(address: str | None, default: list[str], limit: int, by: str) -> list[str]:
    """The target's address, else the channel's ``to``; DeliveryError when there is none
    or more than ``by`` (the provider) takes in one mail."""
    to = recipients([address]) if address else default
    if not to:
        raise DeliveryError(retry=False, reason="no_recipient", detail="no email address")
    if len(to) > limit:
        raise DeliveryError(
            retry=False,
            reason="too_many_recipients",
            detail=f"{len(to)} recipients, {by} takes {limit}",
        )
    return to


def _reset(reply: Reply, now: float) -> float | None:
    return parse_reset(reply.headers.get("X-RateLimit-Reset"), now)


class EmailNotifier(HttpNotifier):
    min_interval = 0.1
    digest = True

    def __init__(
        self,
        channel: EmailChannel,
        *,
        session: aiohttp.ClientSession,
        renderer: Renderer,
        now: Callable[[], float],
        name: str = "email",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(session=session, renderer=renderer, now=now, name=name, timeout=timeout)
        self._key = channel.api_key.get_secret_value()
        self._url = (channel.api_url or "https://api.sendgrid.com").rstrip("/") + "/v3/mail/send"
        self._from = channel.from_
        self._to = recipients(channel.to)

    def mail(self, notice: Notice, to: list[str]) -> dict[str, Any]:
        return {
            "personalizations": [{"to": [{"email": a} for a in to]}],
            "from": {"email": self._from, "name": "sentinel"},
            "subject": self._renderer.subject(notice),
            "content": [
                {"type": "text/plain", "value": self._renderer.text(notice)},
                {"type": "text/html", "value": self._renderer.html(notice)},
            ],
        }

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        to = addressees(address, self._to, MAX_RECIPIENTS, "SendGrid")
        reply = await post(
            self._session,
            self._url,
            total=self._timeout,
            json_body=self.mail(notice, to),
            headers={"Authorization": f"Bearer {self._key}"},
        )
        if reply.status == 202:
            message_id = reply.headers.get("X-Message-Id")
            return Sent(ref={"message_id": message_id} if message_id else None)
        raise refusal(reply, self._now(), PERMANENT, self._describe, retry_after=_reset)

    def _describe(self, reply: Reply) -> str:
        data = reply.json()
        errors = data.get("errors") if isinstance(data, dict) else None
        messages = [str(e.get("message", "")) for e in errors or [] if isinstance(e, dict)]
        text = short("; ".join(m for m in messages if m), (self._key,))
        return f"HTTP {reply.status}" + (f": {text}" if text else "")
