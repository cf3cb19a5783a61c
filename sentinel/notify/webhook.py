"""A generic JSON webhook: the notice as JSON, signed when a secret is set.

The body is :meth:`Notice.to_json` plus ``version`` (the format's version, so
receivers can tell a change coming) and the rendered ``subject`` and ``text``.
With a ``secret``, the receiver checks::

    X-Sentinel-Timestamp: <unix seconds>
    X-Sentinel-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

and rejects old timestamps, so a captured request cannot be replayed later.
2xx is success; 429, 5xx and network failures are retried (``Retry-After``
honoured); any other status is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sentinel.config.models import WebhookChannel
from sentinel.notify.base import DeliveryError, Notice, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import HttpNotifier, post, retry_after_header, transient

VERSION = "1"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier(HttpNotifier):
    min_interval = 0.0
    digest = True

    def __init__(self, channel: WebhookChannel, deps: NotifierDeps, name: str = "webhook") -> None:
        super().__init__(deps, name)
        self._url = channel.url.get_secret_value()
        self._secret = channel.secret.get_secret_value() if channel.secret else None
        self._headers = dict(channel.headers)

    def payload(self, notice: Notice) -> dict[str, Any]:
        return {
            "version": VERSION,
            **notice.to_json(),
            "subject": self._renderer.subject(notice),
            "message": self._renderer.text(notice),
        }

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        body = json.dumps(self.payload(notice), separators=(",", ":")).encode()
        headers = {**self._headers, "Content-Type": "application/json"}
        if self._secret is not None:
            timestamp = str(int(self._now()))
            headers["X-Sentinel-Timestamp"] = timestamp
            headers["X-Sentinel-Signature"] = signature(self._secret, timestamp, body)
        reply = await post(
            self._session, self._url, total=self._timeout, data=body, headers=headers
        )
        if 200 <= reply.status <= 299:
            return Sent()
        error = transient(reply, self._now(), retry_after=retry_after_header)
        if error:
            raise error
        # The receiver's body may echo headers or the URL: only the status is kept.
        raise DeliveryError(
            retry=False,
            reason="auth" if reply.status in (401, 403) else "rejected",
            detail=f"HTTP {reply.status}",
        )
