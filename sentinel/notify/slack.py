"""Slack, by bot token (Web API, threads and updates) or by incoming webhook.

Bot token: ``POST {api_url}/chat.postMessage`` and ``chat.update`` with
``Authorization: Bearer``. Every Web API error arrives as HTTP 200
``{"ok": false, "error": "..."}``; :data:`RETRY_ERRORS` are Slack's transient
ones, everything else (auth, channel, payload) is permanent. HTTP 429 carries
a ``Retry-After`` that may be fractional. Webhook: 200 with body ``ok``;
400/403/404/410 permanent; 429 and 5xx retried (docs/providers.md, "Slack").

Later notices of an alert (acknowledged, resolved, escalation, repeat) given
the ``thread`` ref of the first message of the same firing (the dispatcher
keys threads by :attr:`AlertFacts.firing`: a second outage of the alert has a
message of its own) are posted as a thread reply, and that first message is
updated so its header says where this outage stands. The update is
made first: it is idempotent, so a transient failure there is retried whole
without posting the reply twice.

With the channel's ``signing_secret`` set (a Slack app with interactivity), the
first message carries two Block Kit buttons, ``Acknowledge`` and ``Silence 1h``,
whose value is the firing (:attr:`AlertFacts.firing`): Slack posts the click to
:mod:`sentinel.web.slack_interactions`, and the acknowledgement's own follow-up
notice edits this message (header "ACKNOWLEDGED by ...", buttons gone).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from sentinel.config.models import SlackChannel
from sentinel.notify.base import AlertFacts, DeliveryError, Notice, Sent
from sentinel.notify.chat import FOLLOW_UPS, banner, colour, facts
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import (
    HttpNotifier,
    Reply,
    parse_retry_after,
    post,
    refusal,
    retry_after_header,
    transient,
    unexpected,
    with_code,
    word,
)

RETRY_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
CHANNEL_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "user_not_found",
        "cannot_dm_bot",
        "thread_not_found",
    }
)
PAYLOAD_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "no_text",
        "msg_too_long",
        "too_many_attachments",
        "invalid_arguments",
        "invalid_json",
        "json_not_object",
        "invalid_form_data",
        "invalid_arg_name",
        "invalid_charset",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
    }
)
# The first message is gone or too old to edit: the thread reply still goes out.
UNEDITABLE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
WEBHOOK_PERMANENT = {400: "payload", 403: "forbidden", 404: "not_found", 410: "gone"}
THREADED = FOLLOW_UPS | {"update"}
SECTION_LIMIT = 3000  # characters of text in one section block
ACK_ACTION = "sentinel_ack"
SILENCE_ACTION = "sentinel_silence_1h"


def esc(text: str) -> str:
    """Text for Slack mrkdwn: ``&``, ``<`` and ``>`` would start entities and links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 3] + "..."
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def buttons(alert: AlertFacts) -> dict[str, Any]:
    """The actions block: Acknowledge and Silence 1h, each valued with the firing, so a
    click on an old outage's message never acts on a later one."""
    return ActionsBlock(
        block_id="sentinel_answer",
        elements=[
            ButtonElement(
                text="Acknowledge", action_id=ACK_ACTION, value=alert.firing, style="primary"
            ),
            ButtonElement(text="Silence 1h", action_id=SILENCE_ACTION, value=alert.firing),
        ],
    ).to_dict()


def alert_blocks(
    notice: Notice, alert: AlertFacts, answerable: bool = False
) -> tuple[list[Any], list[Any]]:
    """Blocks and one coloured attachment for an alert: banner, facts, links; and the
    buttons while there is something to acknowledge, when ``answerable``."""
    fields = [f"*{name}*\n{esc(value)}" for name, value in facts(alert)]
    details: list[Any] = []
    if alert.summary:
        details.append(_section(esc(alert.summary)))
    details.append(
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]}
    )
    links = []
    if alert.runbook:
        links.append(f"<{alert.runbook}|Runbook>")
    if alert.ack_url and notice.kind not in ("acknowledged", "resolved"):
        links.append(f"<{alert.ack_url}|Acknowledge>")
    if alert.ack_ref:
        links.append(f"ref `{esc(alert.ack_ref)}`")
    if links:
        details.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "  |  ".join(links)}]}
        )
    blocks = [_section(f"*{esc(banner(notice, alert))}*")]
    if answerable and notice.kind not in ("acknowledged", "resolved"):
        blocks.append(buttons(alert))
    return blocks, [{"color": colour(notice.kind, alert), "blocks": details}]


class SlackNotifier(HttpNotifier):
    min_interval = 1.0  # Slack allows about one message a second per channel
    digest = True

    def __init__(self, channel: SlackChannel, deps: NotifierDeps, name: str = "slack") -> None:
        super().__init__(deps, name)
        self._token = channel.token.get_secret_value() if channel.token else None
        self._webhook = channel.webhook_url.get_secret_value() if channel.webhook_url else None
        self._channel = channel.channel
        secret = channel.signing_secret
        self._answerable = secret is not None and bool(secret.get_secret_value())
        api = channel.api_url or "https://slack.com/api/"
        self._api = api if api.endswith("/") else api + "/"

    def message(self, notice: Notice) -> dict[str, Any]:
        """``text`` (the notification fallback), ``blocks`` and ``attachments``."""
        text = self._renderer.subject(notice)
        alert = notice.alert
        if alert is not None and notice.kind in ("firing", "flapping"):
            blocks, attachments = alert_blocks(notice, alert, self._answerable)
        else:
            blocks = [_section(f"*{esc(text)}*")]
            body = _section(esc(self._renderer.text(notice)))
            attachments = [{"color": colour(notice.kind, alert), "blocks": [body]}]
        return {"text": text, "blocks": blocks, "attachments": attachments}

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        message = self.message(notice)
        if self._webhook is not None:
            # A webhook is bound to one channel: ``address`` cannot redirect it.
            await self._post_webhook(self._webhook, message)
            return Sent()
        alert = notice.alert
        if thread and alert is not None and notice.kind in THREADED:
            if notice.kind != "update":  # an update is a reply; the root keeps the alert's state
                root_blocks, root_attachments = alert_blocks(notice, alert, self._answerable)
                await self._call(
                    "chat.update",
                    {
                        "channel": thread["channel"],
                        "ts": thread["ts"],
                        "text": message["text"],
                        "blocks": root_blocks,
                        "attachments": root_attachments,
                    },
                    tolerate=UNEDITABLE,
                )
            reply = await self._call(
                "chat.postMessage",
                {**message, "channel": thread["channel"], "thread_ts": thread["ts"]},
                tolerate=frozenset({"thread_not_found"}),
            )
            if not reply:  # the first message was deleted: say it in the channel instead
                reply = await self._call(
                    "chat.postMessage", {**message, "channel": thread["channel"]}
                )
        else:
            reply = await self._call(
                "chat.postMessage", {**message, "channel": address or self._channel}
            )
        return Sent(ref={"channel": str(reply.get("channel", "")), "ts": str(reply.get("ts", ""))})

    # -- answers to a button (sentinel.web.slack_interactions) --------------------

    async def whisper(self, channel: str, user: str, text: str) -> None:
        """A message only ``user`` sees (chat.postEphemeral)."""
        await self._call(
            "chat.postEphemeral",
            {"channel": channel, "user": user, "text": text},
            tolerate=CHANNEL_ERRORS | {"user_not_in_channel"},
        )

    async def in_thread(self, channel: str, ts: str, text: str) -> None:
        """A reply in the thread of the message ``ts``."""
        await self._call(
            "chat.postMessage",
            {"channel": channel, "thread_ts": ts, "text": text, "blocks": [_section(esc(text))]},
        )

    async def already(
        self, channel: str, ts: str, user: str, alert: AlertFacts | None, by: str | None
    ) -> None:
        """A press on an alert someone else acknowledged first (``by``), or on a firing
        that is over (``by`` None): the message is brought up to date in place (it may
        predate the first ack's edit) and the presser told why nothing happened."""
        if alert is not None and by is not None:
            notice = Notice(kind="acknowledged", at=self._now(), alert=alert, acked_by=by)
            blocks, attachments = alert_blocks(notice, alert, self._answerable)
            await self._call(
                "chat.update",
                {
                    "channel": channel,
                    "ts": ts,
                    "text": self._renderer.subject(notice),
                    "blocks": blocks,
                    "attachments": attachments,
                },
                tolerate=UNEDITABLE,
            )
            await self.whisper(channel, user, f"Already acknowledged by {by}.")
        else:
            await self.whisper(channel, user, "This alert is no longer firing.")

    async def _call(
        self, method: str, body: dict[str, Any], tolerate: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """One Web API call; errors named in ``tolerate`` return ``{}`` instead of raising
        (the first message may be gone or too old to edit: the reply still matters)."""
        reply = await post(
            self._session,
            self._api + method,
            total=self._timeout,
            json_body=body,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        now = self._now()
        error = transient(reply, now, retry_after=retry_after_header)
        if error:
            raise error
        data = reply.json()
        if reply.status != 200:
            raise unexpected(reply)
        if not isinstance(data, dict):
            raise DeliveryError(
                retry=False, reason="unexpected_response", detail=f"{method}: not a JSON object"
            )
        if data.get("ok") is True:
            return data
        code = word(str(data.get("error", ""))) or "unknown_error"
        if code in tolerate:
            return {}
        raise self._api_error(method, code, reply, now)

    def _api_error(self, method: str, code: str, reply: Reply, now: float) -> DeliveryError:
        detail = f"{method}: {code}"
        if code in RETRY_ERRORS:
            wait = parse_retry_after(reply.headers.get("Retry-After"), now)
            reason = "rate_limited" if "rate" in code else "server_error"
            return DeliveryError(retry=True, reason=reason, detail=detail, retry_after=wait)
        if code in AUTH_ERRORS:
            return DeliveryError(retry=False, reason="auth", detail=detail)
        if code in CHANNEL_ERRORS:
            return DeliveryError(retry=False, reason="channel", detail=detail)
        if code in PAYLOAD_ERRORS:
            return DeliveryError(retry=False, reason="payload", detail=detail)
        return DeliveryError(retry=False, reason="rejected", detail=detail)

    async def _post_webhook(self, url: str, message: dict[str, Any]) -> None:
        reply = await post(self._session, url, total=self._timeout, json_body=message)
        if reply.status == 200:
            if reply.text.strip() == "ok":
                return
            raise DeliveryError(
                retry=False, reason="unexpected_response", detail="HTTP 200 without 'ok'"
            )
        raise refusal(
            reply, self._now(), WEBHOOK_PERMANENT, _webhook_detail, retry_after=retry_after_header
        )


def _webhook_detail(reply: Reply) -> str:
    """A webhook's error is a snake_case word in the body (``invalid_payload``)."""
    return with_code(reply, word(reply.text))
