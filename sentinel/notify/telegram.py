"""Telegram: a bot posts to a chat, and edits its first message as the alert moves on.

``POST {api_url}/bot<token>/sendMessage`` and ``editMessageText`` with JSON
``{chat_id, text, parse_mode: "HTML"}`` (docs/providers.md, "Telegram"). Every
answer is ``{"ok": true, "result": {...}}`` or ``{"ok": false, "error_code",
"description", "parameters"}``; 429 gives the wait in
``parameters.retry_after``; 400, 401, 403 and 404 are permanent; 5xx is retried.

The bot token is part of the URL path: it is never put in an error (the
transport's errors never carry the URL, and a description that echoes the
token is redacted).

Later notices of a firing (acknowledged, resolved, escalation, repeat) given
the first message's ``thread`` ref edit that message, so its header says
where the outage stands, then reply to it, so the chat is told. The edit goes
first: it is idempotent ("message is not modified" is success), so a failure
of the reply is retried whole without posting twice. A first message that is
gone or too old to edit is left alone and the reply still goes out.
"""

from __future__ import annotations

import html
from typing import Any

from sentinel.config.models import TelegramChannel
from sentinel.notify.base import DeliveryError, Notice, Sent
from sentinel.notify.chat import banner  # the same headline as Slack's
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import HttpNotifier, Reply, post, short, unexpected

TEXT_LIMIT = 4096  # characters of the message after its HTML is parsed
THREADED = frozenset({"acknowledged", "resolved", "escalation", "repeat"})
PERMANENT = {400: "bad_request", 401: "auth", 403: "forbidden", 404: "not_found"}
# Editing the first message may fail for reasons that must not stop the reply.
UNEDITABLE = ("message to edit not found", "message can't be edited", "message_id_invalid")
NOT_MODIFIED = "message is not modified"
REPLY_GONE = "message to be replied not found"
# The edited first message's body: the alert's facts (the user's _facts template if any).
ROOT = "_root.txt.j2"
_ACKABLE = frozenset({"firing", "escalation", "repeat", "flapping"})
ICON = {"critical": "\U0001f6a8", "high": "\u26a0\ufe0f", "acknowledged": "\U0001f440"}
ICON |= {"resolved": "\u2705"}


def esc(text: str) -> str:
    """Text for Telegram's HTML: only ``<``, ``>`` and ``&`` need escaping (and ``"``
    inside attributes)."""
    return html.escape(text, quote=True)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


class TelegramNotifier(HttpNotifier):
    # Telegram: at most about one message a second to a chat, and 20 a minute to a group
    # (core.telegram.org/bots/faq): on-call chats are groups. Bursts of 5 still go at once.
    min_interval = 3.0
    digest = True

    def __init__(
        self, channel: TelegramChannel, deps: NotifierDeps, name: str = "telegram"
    ) -> None:
        super().__init__(deps, name)
        self._token = channel.token.get_secret_value()
        # the whole token and its secret half (the part before ":" is the bot's public id)
        self._secrets = (self._token, self._token.partition(":")[2])
        base = (channel.api_url or "https://api.telegram.org").rstrip("/")
        self._base = f"{base}/bot{self._token}/"
        self._chat = str(channel.chat_id)

    def message(self, notice: Notice, root: bool = False) -> dict[str, Any]:
        """``text`` in HTML (a bold headline, then the rendered text) and, while the
        alert can be acknowledged, buttons for the ack link and the runbook. ``root``:
        the first message as edited for this notice (Slack's banner, then the facts)."""
        alert = notice.alert
        if root and alert is not None:
            head, body = banner(notice, alert), self._renderer.render(ROOT, notice)
        else:
            head, body = self._renderer.subject(notice), self._renderer.text(notice)
        icon = ICON.get(notice.kind, ICON.get(alert.severity, "")) if alert else ""
        head = f"{icon} {head}" if icon else head
        room = TEXT_LIMIT - len(head) - 2
        text = f"<b>{esc(cut(head, TEXT_LIMIT))}</b>"
        if room > 3:
            text += "\n\n" + esc(cut(body, room))
        message: dict[str, Any] = {
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        buttons = []
        if alert is not None and alert.ack_url and notice.kind in _ACKABLE:
            buttons.append({"text": "Acknowledge", "url": alert.ack_url})
        if alert is not None and alert.runbook:
            buttons.append({"text": "Runbook", "url": alert.runbook})
        if buttons:
            message["reply_markup"] = {"inline_keyboard": [buttons]}
        return message

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        alert = notice.alert
        chat = address or self._chat
        if thread and alert is not None and notice.kind in THREADED:
            await self._call(
                "editMessageText",
                {
                    **self.message(notice, root=True),
                    "chat_id": thread["chat_id"],
                    "message_id": int(thread["message_id"]),
                },
                tolerate=(NOT_MODIFIED, *UNEDITABLE),
            )
            reply = {"message_id": int(thread["message_id"]), "allow_sending_without_reply": True}
            result = await self._call(
                "sendMessage",
                {**self.message(notice), "chat_id": thread["chat_id"], "reply_parameters": reply},
            )
        else:
            result = await self._call("sendMessage", {**self.message(notice), "chat_id": chat})
        chat_info = result.get("chat")
        chat_id = chat_info.get("id", chat) if isinstance(chat_info, dict) else chat
        return Sent(ref={"chat_id": str(chat_id), "message_id": str(result.get("message_id", ""))})

    async def _call(
        self, method: str, body: dict[str, Any], tolerate: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """One Bot API call: its ``result``, or ``{}`` for an error whose description
        starts with one of ``tolerate`` (after ``Bad Request: ``)."""
        reply = await post(self._session, self._base + method, total=self._timeout, json_body=body)
        data = reply.json()
        if reply.status == 200 and isinstance(data, dict) and data.get("ok") is True:
            result = data.get("result")
            return result if isinstance(result, dict) else {}
        described = data.get("description", "") if isinstance(data, dict) else ""
        what = str(described).removeprefix("Bad Request: ").lower()
        if tolerate and what.startswith(tolerate):
            return {}
        raise self._error(method, reply, data)

    def _error(self, method: str, reply: Reply, data: Any) -> DeliveryError:
        body = data if isinstance(data, dict) else {}
        status = reply.status
        detail = f"{method}: HTTP {status}"
        if described := short(str(body.get("description", "")), self._secrets):
            detail += f": {described}"
        if status == 429:
            params = body.get("parameters")
            wait = params.get("retry_after") if isinstance(params, dict) else None
            seconds = float(wait) if isinstance(wait, int | float) and wait >= 0 else None
            return DeliveryError(
                retry=True, reason="rate_limited", detail=detail, retry_after=seconds
            )
        if 500 <= status <= 599:
            return DeliveryError(retry=True, reason="server_error", detail=detail)
        if status in PERMANENT:
            return DeliveryError(retry=False, reason=PERMANENT[status], detail=detail)
        if status == 200:
            return DeliveryError(
                retry=False, reason="unexpected_response", detail=f"{method}: no ok: true"
            )
        return unexpected(reply)
