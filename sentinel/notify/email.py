"""Email through SendGrid's v3 mail send.

``POST {api_url}/v3/mail/send`` with ``Authorization: Bearer``, JSON with
one personalization, ``text/plain`` content first then ``text/html``
(docs/providers.md, "SendGrid email"). 202 is success (``X-Message-Id`` kept as
the ref); 400/401/403/413 are permanent; 429 waits until
``X-RateLimit-Reset`` (epoch seconds, so it needs ``now``); 5xx is retried.

Mail about one firing of an alert to one address is one conversation: the first
carries ``Message-ID: <sentinel.<hash of firing and address>@<sender's domain>>``
(:func:`conversation_id`), later ones (acknowledged, status updates, resolved)
``In-Reply-To`` and ``References`` to it, so mail clients thread them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sentinel.config.models import EmailChannel
from sentinel.notify.base import DeliveryError, Notice, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import (
    HttpNotifier,
    Reply,
    parse_reset,
    post,
    refusal,
    short,
)

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


def conversation_id(firing: str, address: str, sender: str) -> str:
    """The Message-ID of the first mail about ``firing`` to ``address``: stable, so every
    later mail of the firing can refer to it without asking SendGrid."""
    domain = sender.rpartition("@")[2] or "sentinel.invalid"
    digest = hashlib.sha256(f"{firing}\n{address.lower()}".encode()).hexdigest()[:32]
    return f"<sentinel.{digest}@{domain}>"


def thread_headers(root: str, thread: dict[str, str] | None) -> dict[str, str]:
    """The first mail of a conversation names itself; the others answer it."""
    if thread is None:
        return {"Message-ID": root}
    first = thread.get("conversation", root)
    return {"In-Reply-To": first, "References": first}


def _reset(reply: Reply, now: float) -> float | None:
    return parse_reset(reply.headers.get("X-RateLimit-Reset"), now)


class EmailNotifier(HttpNotifier):
    min_interval = 0.1
    digest = True

    def __init__(self, channel: EmailChannel, deps: NotifierDeps, name: str = "email") -> None:
        super().__init__(deps, name)
        self._key = channel.api_key.get_secret_value()
        self._url = (channel.api_url or "https://api.sendgrid.com").rstrip("/") + "/v3/mail/send"
        self._from = channel.from_
        self._to = recipients(channel.to)

    def mail(
        self, notice: Notice, to: list[str], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        mail: dict[str, Any] = {
            "personalizations": [{"to": [{"email": a} for a in to]}],
            "from": {"email": self._from, "name": "sentinel"},
            "subject": self._renderer.subject(notice),
            "content": [
                {"type": "text/plain", "value": self._renderer.text(notice)},
                {"type": "text/html", "value": self._renderer.html(notice)},
            ],
        }
        if headers:
            mail["headers"] = headers
        return mail

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        to = addressees(address, self._to, MAX_RECIPIENTS, "SendGrid")
        alert = notice.alert
        root = None
        if alert is not None and notice.kind != "digest":
            root = conversation_id(alert.firing, ",".join(to), self._from)
        headers = thread_headers(root, thread) if root else None
        reply = await post(
            self._session,
            self._url,
            total=self._timeout,
            json_body=self.mail(notice, to, headers),
            headers={"Authorization": f"Bearer {self._key}"},
        )
        if reply.status == 202:
            ref = {"message_id": reply.headers.get("X-Message-Id", "")}
            if root:
                ref["conversation"] = (thread or {}).get("conversation", root)
            return Sent(ref=ref if any(ref.values()) else None)
        raise refusal(reply, self._now(), PERMANENT, self._describe, retry_after=_reset)

    def _describe(self, reply: Reply) -> str:
        data = reply.json()
        errors = data.get("errors") if isinstance(data, dict) else None
        messages = [str(e.get("message", "")) for e in errors or [] if isinstance(e, dict)]
        text = short("; ".join(m for m in messages if m), (self._key,))
        return f"HTTP {reply.status}" + (f": {text}" if text else "")
