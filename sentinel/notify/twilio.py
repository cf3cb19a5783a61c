"""What SMS and voice share: a Twilio account's resource (Messages, Calls), the
numbers a notice goes to, one create request per number, and Twilio's error table
(the same for calls as for messages; docs/providers.md, "Twilio SMS").
"""

from __future__ import annotations

import base64

from sentinel.config.models import SmsChannel, VoiceChannel
from sentinel.notify.base import DeliveryError
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import HttpNotifier, Reply, post, short, transient, unexpected

# Twilio error codes that name a cause worth its own metric label.
_CODES = {
    21211: "invalid_number",
    21214: "invalid_number",
    21614: "invalid_number",
    21408: "region_disabled",
    21610: "unsubscribed",
    21612: "unreachable",
    21617: "too_long",
    21602: "bad_request",
    21603: "bad_request",
    21606: "invalid_sender",
    21659: "invalid_sender",
}


def twilio_account(
    channel: SmsChannel | VoiceChannel, resource: str
) -> tuple[str, str, tuple[str, str]]:
    """The URL of an account's ``resource`` (Messages, Calls), its Authorization header
    and the secrets to keep out of errors."""
    sid = channel.account_sid.get_secret_value()
    token = channel.auth_token.get_secret_value()
    base = (channel.api_url or "https://api.twilio.com").rstrip("/")
    # Built by hand: aiohttp.BasicAuth warns under filterwarnings=error (docs/providers.md).
    auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode("ascii")
    return f"{base}/2010-04-01/Accounts/{sid}/{resource}.json", auth, (sid, token)


class TwilioNotifier(HttpNotifier):
    """A notifier that creates one Twilio resource a number: SMS (Messages), voice (Calls)."""

    def __init__(
        self, channel: SmsChannel | VoiceChannel, deps: NotifierDeps, name: str, resource: str
    ) -> None:
        super().__init__(deps, name)
        self._url, self._auth, self._secrets = twilio_account(channel, resource)
        self._from = channel.from_
        self._to = list(dict.fromkeys(channel.to))

    def numbers(self, address: str | None) -> list[str]:
        """The target's number, else the channel's; ``no_recipient`` when there is none."""
        numbers = [address] if address else self._to
        if not numbers:
            raise DeliveryError(retry=False, reason="no_recipient", detail="no phone number")
        return numbers

    async def create(self, form: dict[str, str]) -> str:
        """POST one resource (a message, a call): its sid, else the DeliveryError
        Twilio's answer means."""
        reply = await post(
            self._session,
            self._url,
            total=self._timeout,
            form=form,
            headers={"Authorization": self._auth, "Accept": "application/json"},
        )
        return twilio_check(reply, self._now(), self._secrets)


def twilio_check(reply: Reply, now: float, secrets: tuple[str, ...]) -> str:
    """The sid of a created Twilio resource (message or call), else the DeliveryError
    Twilio's answer means."""
    data = reply.json()
    if reply.status == 201:
        return str(data.get("sid", "")) if isinstance(data, dict) else ""
    # Twilio sends no Retry-After: the dispatcher's backoff decides the wait.
    error = transient(reply, now)
    if error:
        raise error
    code = data.get("code") if isinstance(data, dict) else None
    message = short(str(data.get("message", "")), secrets) if isinstance(data, dict) else ""
    detail = f"HTTP {reply.status} code {code}: {message}" if code else f"HTTP {reply.status}"
    if reply.status == 401:
        raise DeliveryError(retry=False, reason="auth", detail=detail)
    if reply.status == 400:
        reason = _CODES.get(code, "bad_request") if isinstance(code, int) else "bad_request"
        raise DeliveryError(retry=False, reason=reason, detail=detail)
    if reply.status == 404:
        raise DeliveryError(retry=False, reason="not_found", detail=detail)
    raise unexpected(reply)
