"""Microsoft Teams, by a Workflows (Power Automate) webhook: one Adaptive Card per notice.

``POST {webhook_url}`` with::

    {"type": "message", "attachments": [{"contentType":
      "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard 1.4>}]}

The card has a coloured header for the alert's state, the summary, its facts
(a FactSet) and ``Action.OpenUrl`` buttons to the ack link, the status page
and the runbook. The URL is sent byte for byte (its ``sig`` query parameter is
the credential and must not be re-quoted). Teams webhooks cannot edit a card
they posted: an acknowledgement or a resolution is a new card.

Answers: 202 (Workflows) or 200 (the old Office 365 connectors) is success;
the flow runs after it answered, so a flow that fails later shows only in its
run history. 429 (``Retry-After``) and 5xx are retried; 400, 401, 403, 404,
410 and 413 are permanent. Teams refuses cards over about 28 KB, so the text
gives way until the whole body fits (docs/providers.md, "Microsoft Teams").
"""

from __future__ import annotations

import json
import re
from typing import Any

from yarl import URL

from sentinel.config.models import TeamsChannel
from sentinel.notify.base import Notice, Sent
from sentinel.notify.chat import banner, clip, facts, links
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import (
    HttpNotifier,
    Reply,
    post,
    refusal,
    retry_after_header,
    with_code,
)
from sentinel.notify.render import Renderer

CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_BYTES = 28_000  # Teams' message limit is about 28 KB; keep under it
PERMANENT = {
    400: "payload",
    401: "auth",
    403: "forbidden",
    404: "not_found",
    410: "gone",
    413: "too_large",
}
# Adaptive Card container styles, by what the notice says.
STYLE = {"critical": "attention", "high": "warning", "medium": "warning", "low": "accent"}
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")


def _style(notice: Notice) -> str:
    if notice.kind == "resolved":
        return "good"
    if notice.kind == "acknowledged" or notice.alert is None:
        return "emphasis"
    return STYLE.get(notice.alert.severity, "accent")


def card(notice: Notice, renderer: Renderer, text_limit: int | None = None) -> dict[str, Any]:
    """The Adaptive Card of a notice. The first notice of an alert (and a flap) is built
    from its facts; every other one is its subject and text from the templates."""
    alert = notice.alert
    structured = alert is not None and notice.kind in ("firing", "flapping")
    title = banner(notice, alert) if alert is not None else renderer.subject(notice)
    text = (alert.summary if structured and alert else renderer.text(notice)) or title
    if text_limit is not None:
        text = clip(text, text_limit)
    body: list[dict[str, Any]] = [
        {
            "type": "Container",
            "style": _style(notice),
            "bleed": True,
            "items": [
                {
                    "type": "TextBlock",
                    "text": title,
                    "weight": "Bolder",
                    "size": "Medium",
                    "wrap": True,
                }
            ],
        },
        {"type": "TextBlock", "text": text, "wrap": True},
    ]
    actions: list[dict[str, Any]] = []
    if alert is not None:
        if structured:
            pairs = [{"title": n, "value": clip(v, 2000)} for n, v in facts(alert)]
            body.append({"type": "FactSet", "facts": pairs})
        if alert.ack_ref:
            body.append(
                {
                    "type": "TextBlock",
                    "text": f"sentinel · ref {alert.ack_ref}",
                    "isSubtle": True,
                    "size": "Small",
                    "wrap": True,
                }
            )
        actions = [
            {"type": "Action.OpenUrl", "title": t, "url": u} for t, u in links(notice, alert)
        ]
    content: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return {
        "type": "message",
        "attachments": [{"contentType": CARD, "contentUrl": None, "content": content}],
    }


def encode(notice: Notice, renderer: Renderer) -> bytes:
    """The request body, within :data:`MAX_BYTES`: the card's text is cut until it fits."""
    data = _dump(card(notice, renderer))
    limit = len(data)
    while len(data) > MAX_BYTES and limit > 0:
        limit = max(0, limit - (len(data) - MAX_BYTES) - 64)
        data = _dump(card(notice, renderer, limit))
    return data


def _dump(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def _describe(reply: Reply) -> str:
    """The status and the error code of a Logic Apps / Power Automate answer
    (``{"error": {"code": …}}``); only the code, never the message (it may quote the URL)."""
    data = reply.json()
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return with_code(reply, code if isinstance(code, str) and _CODE.match(code) else "")


class TeamsNotifier(HttpNotifier):
    min_interval = 1.0  # Teams throttles a channel's posts at a few a second
    digest = True

    def __init__(self, channel: TeamsChannel, deps: NotifierDeps, name: str = "teams") -> None:
        super().__init__(deps, name)
        self._url = URL(channel.webhook_url.get_secret_value(), encoded=True)

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        # A webhook is bound to its channel; a card cannot be edited, so no ref is kept.
        reply = await post(
            self._session,
            self._url,
            total=self._timeout,
            data=encode(notice, self._renderer),
            headers={"Content-Type": "application/json"},
        )
        if reply.status in (200, 202):
            return Sent()
        raise refusal(reply, self._now(), PERMANENT, _describe, retry_after=retry_after_header)
