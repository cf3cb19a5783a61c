"""What Twilio posts back about a call placed by a ``type: voice`` channel.

POST /twilio/voice/{fingerprint}/{token}          the keypress (``Digits``): 1 acknowledges,
                                                   2 escalates now, else the prompt once more
POST /twilio/voice/{fingerprint}/{token}/status   the call's outcome (``CallStatus``,
                                                   ``AnsweredBy``): not answered falls through

Every request must carry a valid ``X-Twilio-Signature``: Twilio's HMAC-SHA1 over the
public URL (``server.external_url`` + the path and query) and the sorted form fields,
keyed by the account's auth token (or the channel's ``secondary_auth_token`` during
a rotation). A missing or wrong signature is 403 and costs the client a token of
the same bucket as wrong API tokens (:mod:`sentinel.web.auth`). ``token`` is the
firing's signed ack token: a keypress acts on the outage it was called about only.
Who pressed is the called number (``To``, covered by the signature), named as the
contact with that phone number.
"""

from __future__ import annotations

from typing import Any, Protocol

import structlog
from aiohttp import web
from twilio.request_validator import RequestValidator

from sentinel.config.models import Config
from sentinel.notify.voice import gather, say
from sentinel.web.auth import Gate

log = structlog.get_logger("sentinel.web")
UNANSWERED = frozenset({"no-answer", "busy", "failed", "canceled"})
TWIML = "application/xml"


class VoiceSource(Protocol):
    @property
    def config(self) -> Config: ...

    async def check_ack_link(self, fingerprint: str, token: str) -> bool | str: ...

    async def acknowledge(self, ref: str, by: str, via: str) -> dict[str, Any] | None: ...

    async def escalate_now(self, fingerprint: str, by: str) -> bool: ...

    async def call_unanswered(self, fingerprint: str, sid: str, outcome: str) -> bool: ...


def auth_tokens(config: Config) -> list[str]:
    """Every auth token a Twilio channel (voice, sms) accepts webhook signatures from."""
    out: list[str] = []
    for channel in config.channels.values():
        if channel.type in ("voice", "sms"):
            out.append(channel.auth_token.get_secret_value())
            if channel.secondary_auth_token is not None:
                out.append(channel.secondary_auth_token.get_secret_value())
    return [t for t in dict.fromkeys(out) if t]


def signed(url: str, params: dict[str, str], signature: str, tokens: list[str]) -> bool:
    """Twilio's documented check, for each token accepted."""
    return bool(signature) and any(
        RequestValidator(t).validate(url, params, signature) for t in tokens
    )


def caller(config: Config, number: str) -> str:
    """The contact whose phone is ``number``, else the number's last four digits."""
    for name, contact in config.contacts.items():
        if contact.phone == number:
            return name
    return f"phone ...{number[-4:]}" if number else "phone"


def outcome(form: dict[str, str]) -> str | None:
    """Why a call counts as not answered, or None when someone picked up."""
    answered_by = form.get("AnsweredBy", "")
    if answered_by.startswith("machine") or answered_by == "fax":
        return answered_by
    status = form.get("CallStatus", "")
    return status if status in UNANSWERED else None


def _twiml(body: str) -> web.Response:
    return web.Response(text=body, content_type=TWIML)


async def verified(
    request: web.Request, config: Config, gate: Gate
) -> dict[str, str] | web.Response:
    """The form of a request Twilio signed for ``server.external_url`` + its path, else
    the 403 (or the 429 of a client that failed too often) to answer."""
    client = gate.client(request)
    limited = gate.limited(client)
    if limited is not None:
        return limited
    form = {k: str(v) for k, v in (await request.post()).items()}
    base = (config.server.external_url or "").rstrip("/")
    url = base + request.path_qs
    signature = request.headers.get("X-Twilio-Signature", "")
    if not base or not signed(url, form, signature, auth_tokens(config)):
        gate.limiter.failed(client)
        log.warning("twilio_signature_refused", path=request.path)
        return web.Response(status=403, text="bad signature\n")
    return form


def add_twilio_voice_routes(app: web.Application, source: VoiceSource, gate: Gate) -> None:
    async def firing(request: web.Request) -> tuple[str, str | None]:
        fp, token = request.match_info["fingerprint"], request.match_info["token"]
        verdict = await source.check_ack_link(fp, token)
        return fp, None if verdict is True else str(verdict)

    async def keypress(request: web.Request) -> web.Response:
        form = await verified(request, source.config, gate)
        if isinstance(form, web.Response):
            return form
        fp, problem = await firing(request)
        if problem is not None:
            return _twiml(say("This alert is no longer active. Goodbye."))
        by = caller(source.config, form.get("To", ""))
        digit = form.get("Digits", "")
        if digit == "1":
            done = await source.acknowledge(fp, by, "voice")
            return _twiml(say("Acknowledged." if done else "This alert is no longer active."))
        if digit == "2":
            sent = await source.escalate_now(fp, f"{by} via voice")
            return _twiml(say("Escalated to the next step." if sent else "Nothing to escalate."))
        if request.query.get("again"):
            return _twiml(say("No answer recorded. Goodbye."))
        public = (source.config.server.external_url or "").rstrip("/") + request.path
        return _twiml(gather(public + "?again=1", "That key is not one of the choices."))

    async def status(request: web.Request) -> web.Response:
        form = await verified(request, source.config, gate)
        if isinstance(form, web.Response):
            return form
        fp, problem = await firing(request)
        why = outcome(form)
        if problem is None and why is not None:
            await source.call_unanswered(fp, form.get("CallSid", ""), why)
        return web.Response(status=204)

    app.router.add_post("/twilio/voice/{fingerprint}/{token}", keypress)
    app.router.add_post("/twilio/voice/{fingerprint}/{token}/status", status)
