"""Discord, by channel webhook: one embed per notice; the first message is edited in place.

``POST {webhook_url}?wait=true`` with ``{"embeds": [embed], "allowed_mentions":
{"parse": []}}`` (so no alert text can ping ``@everyone``, a role or a user)
answers 200 with the message; its ``id`` is kept as the firing's ref. Later
notices of the same firing edit that message with ``PATCH
{webhook_url}/messages/{id}`` (its header, colour and text show where the outage
stands): an acknowledgement or a resolution is that edit alone; an escalation or
a repeat edits it and posts a new message, so the channel is told again. A
message deleted meanwhile (404, code 10008) is posted afresh.

Limits (checked by Discord, kept here): title 256, description 4096, 25
fields of name 256 and value 1024, footer 2048, all of it 6000 characters.
Answers: 200/204 success; 429 with ``retry_after`` (seconds, in the JSON body)
and ``Retry-After``, and 5xx, are retried; 400 (``code`` 50035 and friends),
401, 403 and 404 are permanent (docs/providers.md, "Discord").
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from yarl import URL

from sentinel.config.models import DiscordChannel
from sentinel.notify.base import AlertFacts, Notice, Sent
from sentinel.notify.chat import banner, clip, colour, facts, links
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import (
    HttpNotifier,
    Reply,
    parse_retry_after,
    post,
    refusal,
    with_code,
)
from sentinel.notify.render import Renderer

TITLE, DESCRIPTION, FIELDS, FIELD_NAME, FIELD_VALUE, FOOTER, TOTAL = (
    256,
    4096,
    25,
    256,
    1024,
    2048,
    6000,
)
UNKNOWN_MESSAGE = 10008  # the message to edit was deleted
PERMANENT = {400: "payload", 401: "auth", 403: "forbidden", 404: "not_found"}
EDIT_ONLY = frozenset({"acknowledged", "resolved"})
EDITS = EDIT_ONLY | {"escalation", "repeat"}


def _field(name: str, value: str, inline: bool = True) -> dict[str, Any]:
    return {
        "name": clip(name, FIELD_NAME),
        "value": clip(value or "-", FIELD_VALUE),
        "inline": inline,
    }


def _fit(embed: dict[str, Any]) -> dict[str, Any]:
    """The embed within Discord's 6000 characters: the description gives way first."""
    rest = len(embed["title"]) + len(embed.get("footer", {}).get("text", ""))
    rest += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    embed["description"] = clip(embed.get("description", ""), min(DESCRIPTION, TOTAL - rest))
    return embed


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def alert_embed(notice: Notice, alert: AlertFacts, renderer: Renderer) -> dict[str, Any]:
    """The alert's card: header for its state, summary, facts, links."""
    text = alert.summary
    if notice.kind in EDIT_ONLY:  # the edit is all the channel sees: say what happened
        text += "\n\n" + renderer.text(notice)
    fields = [_field(name, value) for name, value in facts(alert)]
    shown = " · ".join(f"[{title}]({url})" for title, url in links(notice, alert))
    if shown and len(shown) <= FIELD_VALUE:
        fields.append(_field("Links", shown, inline=False))
    embed = {
        "title": clip(banner(notice, alert), TITLE),
        "description": text.strip(),
        "color": int(colour(notice.kind, alert)[1:], 16),
        "fields": fields[:FIELDS],
        "footer": {"text": clip(f"sentinel · ref {alert.ack_ref}", FOOTER)},
        "timestamp": _iso(notice.at),
    }
    return _fit(embed)


def embed(notice: Notice, renderer: Renderer) -> dict[str, Any]:
    """The embed of a new message: the alert's card for a firing or a flap, else a
    header and the notice's text from the templates (update, digest, test, report)."""
    alert = notice.alert
    if alert is not None and notice.kind in ("firing", "flapping"):
        return alert_embed(notice, alert, renderer)
    title = banner(notice, alert) if alert is not None else renderer.subject(notice)
    return _fit(
        {
            "title": clip(title, TITLE),
            "description": renderer.text(notice),
            "color": int(colour(notice.kind, alert)[1:], 16),
            "footer": {"text": "sentinel"},
            "timestamp": _iso(notice.at),
        }
    )


def discord_wait(reply: Reply, now: float) -> float | None:
    """``retry_after`` (seconds) from the JSON body, else the ``Retry-After`` header."""
    data = reply.json()
    if isinstance(data, dict):
        value = data.get("retry_after")
        if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
            return float(value)
    return parse_retry_after(reply.headers.get("Retry-After"), now)


def _code(reply: Reply) -> int | None:
    data = reply.json()
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _describe(reply: Reply) -> str:
    code = _code(reply)
    return with_code(reply, None if code is None else f"code {code}")


class DiscordNotifier(HttpNotifier):
    min_interval = 2.0  # 30 messages a minute per channel (bursts of 5 per webhook)
    digest = True

    def __init__(self, channel: DiscordChannel, deps: NotifierDeps, name: str = "discord") -> None:
        super().__init__(deps, name)
        self._hook = URL(channel.webhook_url.get_secret_value())
        self._username = channel.username

    def body(self, embeds: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"embeds": embeds, "allowed_mentions": {"parse": []}}
        if self._username:
            body["username"] = self._username
        return body

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        # A webhook is bound to its channel: ``address`` cannot redirect it.
        alert = notice.alert
        message_id = (thread or {}).get("message_id", "")
        if alert is not None and notice.kind in EDITS and message_id.isdigit():
            card = alert_embed(notice, alert, self._renderer)
            edited = await self._edit(message_id, {"embeds": [card]})
            if edited and notice.kind in EDIT_ONLY:
                return Sent(ref=thread)
        reply = await self._call(
            "POST", self._hook.update_query(wait="true"), self.body([embed(notice, self._renderer)])
        )
        data = reply.json()
        ident = data.get("id") if isinstance(data, dict) else None
        return (
            Sent(ref={"message_id": ident})
            if isinstance(ident, str) and ident.isdigit()
            else Sent()
        )

    async def _edit(self, message_id: str, body: dict[str, Any]) -> bool:
        """Edit the first message; False when it was deleted (it is posted afresh)."""
        url = self._hook.with_path(f"{self._hook.path}/messages/{message_id}").with_query(
            self._hook.query
        )
        try:
            await self._call("PATCH", url, {**body, "allowed_mentions": {"parse": []}})
        except _Gone:
            return False
        return True

    async def _call(self, method: str, url: URL, body: dict[str, Any]) -> Reply:
        reply = await post(self._session, url, total=self._timeout, json_body=body, method=method)
        if reply.status in (200, 204):
            return reply
        if method == "PATCH" and reply.status == 404 and _code(reply) == UNKNOWN_MESSAGE:
            raise _Gone
        raise refusal(reply, self._now(), PERMANENT, _describe, retry_after=discord_wait)


class _Gone(Exception):
    """The message to edit no longer exists."""
