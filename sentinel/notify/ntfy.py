"""ntfy: a push notification to a phone through a topic on an ntfy server.

``POST <topic URL>`` with the message as the body and the headers ``Title``,
``Priority`` (1-5), ``Tags``, ``Click`` and ``Actions``; ``Authorization:
Bearer <token>`` or Basic when the topic is protected (docs/providers.md,
"ntfy"). 200 with the message as JSON is success (its ``id`` is the ref);
400, 401, 403, 404 and 413 are permanent; 429 and 5xx are retried
(``Retry-After`` honoured when sent). ntfy cannot edit a message: an
acknowledgement or resolution is a new, quiet one (priority 2).

The body is cut to 4096 bytes (ntfy's default ``message-size-limit``; a
longer one becomes an attachment or is refused). Headers are Latin-1 on the
wire, so a title with other characters is sent RFC 2047 encoded, which ntfy
decodes.
"""

from __future__ import annotations

import base64

from sentinel.config.models import NtfyChannel
from sentinel.notify.base import Notice, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import (
    HttpNotifier,
    Reply,
    post,
    refusal,
    retry_after_header,
    short,
)

MESSAGE_LIMIT = 4096  # bytes
TITLE_LIMIT = 250  # characters: a phone shows one or two lines of it
# sentinel's severities -> ntfy priority: 5 urgent (long vibration, pops over), 4 high,
# 3 default, 2 low (no sound), 1 min.
PRIORITY = {"critical": "5", "high": "4", "medium": "3", "low": "2"}
QUIET = "2"  # acknowledged, resolved: nobody needs waking for them
TAGS = {
    "critical": "rotating_light",
    "high": "warning",
    "medium": "warning",
    "low": "information_source",
    "acknowledged": "eyes",
    "resolved": "white_check_mark",
}
PERMANENT = {400: "bad_request", 401: "auth", 403: "forbidden", 404: "not_found"}
PERMANENT |= {413: "too_large"}
_ACKABLE = frozenset({"firing", "escalation", "repeat", "flapping"})


def cut_bytes(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-8 bytes, never splitting a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore").rstrip() + "..."


def quoted(value: str) -> str:
    """A value in ntfy's ``Actions`` header: quoted when a comma or semicolon in it (a
    runbook URL's query) would otherwise end it."""
    return f'"{value}"' if any(c in value for c in ",;") else value


def header_value(text: str, limit: int = TITLE_LIMIT) -> str:
    """A header value as ntfy reads it, on one line: Latin-1 as it is, anything else one
    RFC 2047 base64 word (never folded: a newline in a header is refused)."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return "=?utf-8?b?" + base64.b64encode(text.encode()).decode("ascii") + "?="
    return text


class NtfyNotifier(HttpNotifier):
    min_interval = 0.5  # ntfy.sh refills a visitor's burst of 60 at one message every 5 s
    digest = True

    def __init__(self, channel: NtfyChannel, deps: NotifierDeps, name: str = "ntfy") -> None:
        super().__init__(deps, name)
        self._url = channel.url.get_secret_value()
        self._auth: str | None = None
        secrets = [self._url.rsplit("/", 1)[-1]]
        if channel.token is not None:
            self._auth = f"Bearer {channel.token.get_secret_value()}"
            secrets.append(channel.token.get_secret_value())
        elif channel.username is not None and channel.password is not None:
            user, password = (
                channel.username.get_secret_value(),
                channel.password.get_secret_value(),
            )
            pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._auth = f"Basic {pair}"
            secrets += [user, password]
        self._secrets = tuple(secrets)

    def headers(self, notice: Notice) -> dict[str, str]:
        alert = notice.alert
        severity = alert.severity if alert else "low"
        quiet = notice.kind in ("acknowledged", "resolved")
        tags = [TAGS.get(notice.kind if quiet else severity, "bell"), "sentinel"]
        headers = {
            "Title": header_value(self._renderer.subject(notice)),
            "Priority": QUIET if quiet else PRIORITY.get(severity, "3"),
            "Tags": ",".join(tags),
            "Content-Type": "text/plain; charset=utf-8",
        }
        if notice.kind == "test":
            headers["Priority"] = "3"
        actions = []
        if alert is not None and alert.ack_url and notice.kind in _ACKABLE:
            headers["Click"] = alert.ack_url
            actions.append(f"view, Acknowledge, {quoted(alert.ack_url)}, clear=true")
        if alert is not None and alert.runbook:
            actions.append(f"view, Runbook, {quoted(alert.runbook)}")
        if actions:
            headers["Actions"] = "; ".join(actions)
        if self._auth is not None:
            headers["Authorization"] = self._auth
        return headers

    def body(self, notice: Notice) -> bytes:
        return cut_bytes(self._renderer.text(notice), MESSAGE_LIMIT).encode()

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        """``address`` does not apply: the topic is the channel's."""
        reply = await post(
            self._session,
            self._url,
            total=self._timeout,
            data=self.body(notice),
            headers=self.headers(notice),
        )
        if reply.status == 200:
            data = reply.json()
            ident = data.get("id") if isinstance(data, dict) else None
            return Sent(ref={"id": str(ident)} if ident else None)
        raise refusal(reply, self._now(), PERMANENT, self._describe, retry_after=retry_after_header)

    def _describe(self, reply: Reply) -> str:
        """ntfy's errors are ``{"code": 40101, "http": 401, "error": "..."}``."""
        data = reply.json()
        if not isinstance(data, dict):
            return f"HTTP {reply.status}"
        code = data.get("code")
        text = short(str(data.get("error", "")), self._secrets)
        return (
            f"HTTP {reply.status}"
            + (f" code {code}" if isinstance(code, int) else "")
            + (f": {text}" if text else "")
        )
