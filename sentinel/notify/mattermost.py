"""Mattermost, by incoming webhook: Slack-compatible attachments.

``POST {webhook_url}`` with ``{"text": <subject>, "attachments": [{"fallback",
"color", "title", "title_link", "text", "fields": [{"title", "value", "short"}],
"footer"}]}``, plus ``channel`` and ``username`` when configured (or the target's
address as ``channel``: a channel name or ``@user``). 200 with the body ``ok``
is success; a 200 without it (a proxy's login page) is a permanent error.

Incoming webhooks cannot edit a post nor reply in a thread (``root_id`` is not
accepted), so an acknowledgement or a resolution is a new post. Mattermost
turns ``@channel``, ``@here``, ``@all``, ``@user`` and ``<!channel>`` in a post
into notifications: text taken from an alert has a zero-width space put after
each ``@`` (and in ``<!``), so a summary cannot page the whole channel.

``text`` is kept within 16383 characters (a longer one is split into several
posts or refused, by server version). 429 (``Retry-After``) and 5xx are retried;
400 (``web.incoming_webhook.*`` error ids: invalid webhook, no text, unknown
channel or user), 403 (channel locked), 404 and 501 (incoming webhooks turned
off) are permanent (docs/providers.md, "Mattermost").
"""

from __future__ import annotations

import re
from typing import Any

from sentinel.config.models import MattermostChannel
from sentinel.notify.base import DeliveryError, Notice, Sent
from sentinel.notify.chat import banner, clip, colour, facts, links
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import (
    HttpNotifier,
    Reply,
    post,
    refused,
    retry_after_header,
    transient,
    unexpected,
)
from sentinel.notify.render import Renderer

TEXT_LIMIT = 16383  # characters of a post since Mattermost 5.0
ATTACHMENT_TEXT = 8000  # an attachment's text, so the post's properties stay small
PERMANENT = {400: "payload", 403: "forbidden", 404: "not_found", 501: "disabled"}
_ID = re.compile(r"^[a-z0-9_.]{1,100}$")
SHORT = frozenset({"Severity", "Check", "Value", "Since", "On-call lead"})


def quiet(text: str) -> str:
    """``text`` that mentions nobody: ``@`` and ``<!`` get a zero-width space after them."""
    return text.replace("@", "@\u200b").replace("<!", "<\u200b!")


def attachment(notice: Notice, renderer: Renderer) -> dict[str, Any]:
    """One coloured attachment: the alert's facts for a firing or a flap, else the
    notice's text from the templates (update, resolved, digest, test, report)."""
    alert = notice.alert
    subject = renderer.subject(notice)
    out: dict[str, Any] = {
        "fallback": quiet(subject),
        "color": colour(notice.kind, alert),
        "footer": "sentinel" + (f" · ref {alert.ack_ref}" if alert and alert.ack_ref else ""),
    }
    if alert is None:
        out.update(title=quiet(subject), text=quiet(clip(renderer.text(notice), ATTACHMENT_TEXT)))
        return out
    out["title"] = quiet(banner(notice, alert))
    shown = links(notice, alert)
    if shown:
        out["title_link"] = shown[0][1]
    if notice.kind in ("firing", "flapping"):
        text = alert.summary
        out["fields"] = [
            {"title": name, "value": quiet(clip(value, 2000)), "short": name in SHORT}
            for name, value in facts(alert)
        ]
    else:
        text = renderer.text(notice)
    more = " · ".join(f"[{title}]({url})" for title, url in shown)
    out["text"] = quiet(clip(text, ATTACHMENT_TEXT)) + (f"\n\n{more}" if more else "")
    return out


def _error_id(reply: Reply) -> str:
    """Mattermost's error id (``web.incoming_webhook.invalid.app_error``), never its message."""
    data = reply.json()
    ident = data.get("id") if isinstance(data, dict) else None
    return ident if isinstance(ident, str) and _ID.match(ident) else ""


class MattermostNotifier(HttpNotifier):
    min_interval = 1.0  # a chat channel: about a post a second
    digest = True

    def __init__(
        self, channel: MattermostChannel, deps: NotifierDeps, name: str = "mattermost"
    ) -> None:
        super().__init__(deps, name)
        self._url = channel.webhook_url.get_secret_value()
        self._channel = channel.channel
        self._username = channel.username

    def message(self, notice: Notice, address: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "text": quiet(clip(self._renderer.subject(notice), TEXT_LIMIT)),
            "attachments": [attachment(notice, self._renderer)],
        }
        if address or self._channel:
            body["channel"] = address or self._channel
        if self._username:
            body["username"] = self._username
        return body

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        # No edits, no threads through an incoming webhook: every notice is a new post.
        reply = await post(
            self._session, self._url, total=self._timeout, json_body=self.message(notice, address)
        )
        if reply.status == 200:
            if reply.text.strip() == "ok":
                return Sent()
            raise DeliveryError(
                retry=False, reason="unexpected_response", detail="HTTP 200 without 'ok'"
            )
        if reply.status in PERMANENT:  # before the 5xx rule: 501 is "turned off"
            raise refused(reply, PERMANENT, _error_id(reply))
        error = transient(reply, self._now(), retry_after=retry_after_header)
        if error:
            raise error
        raise unexpected(reply)
