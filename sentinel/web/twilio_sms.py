"""Replies to texted pages: Twilio's inbound-message webhook.

POST /twilio/inbound   form fields ``From``, ``To``, ``Body``, ``MessageSid``, ``AccountSid``
                       (the Messaging webhook of the sending number, in Twilio's console)

Signed as the voice webhooks are (:func:`sentinel.web.twilio_voice.verified`: Twilio's
HMAC-SHA1 over ``server.external_url`` + the path and the sorted form fields, keyed by
an SMS or voice channel's auth token or its ``secondary_auth_token``); a missing or
wrong signature is 403.

Each page texted carries the recipient's reply code ("Reply ACK 4",
:mod:`sentinel.escalation.replies`). From a known number (a contact's ``phone``, or a
number in an SMS channel's ``to``):

    ACK 4      acknowledges the alert texted to this number with code 4
    ACK        acknowledges the one open alert texted to this number (else lists them)
    ACK ALL    acknowledges every open alert texted to this number
    ACK a1b2c3 acknowledges the escalating alert with that id (the ref older pages carry)
    anything   a short help text

and the answer is a TwiML ``<Message>`` back ("Acknowledged: ...", "Already
acknowledged by bob via slack"). A number that is not known is never answered
(an empty ``<Response/>``) and is counted; answers to one number are at most
:data:`BURST` at once and then one a :data:`REFILL` (the command is still carried
out: only the answer is held back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol
from xml.sax.saxutils import escape

import structlog
from aiohttp import web

from sentinel.clock import Clock
from sentinel.config.models import Config
from sentinel.escalation.answers import Answered
from sentinel.metrics import Metrics
from sentinel.notify.base import AlertFacts
from sentinel.web.auth import Bucket, Gate, level, spend
from sentinel.web.twilio_voice import verified

log = structlog.get_logger("sentinel.web")
TWIML = "text/xml"
BURST = 5.0  # answers a number gets at once
REFILL = 60.0  # then one more each this often (seconds)
HELP = (
    "sentinel: reply ACK <code> to acknowledge that alert, ACK when one alert is open, "
    "ACK ALL for every alert texted to you."
)
_COMMAND = re.compile(r"^\s*ACK\s*(\S+)?\s*$", re.IGNORECASE)
_REF = re.compile(r"^[0-9a-f]{6,64}$")


@dataclass(frozen=True, slots=True)
class Command:
    what: Literal["one", "code", "all", "ref", "help"]
    arg: str = ""


@dataclass(frozen=True, slots=True)
class Open:
    """An alert texted to a number, whose escalation is still running."""

    code: int
    fingerprint: str
    firing: str
    facts: AlertFacts
    acked_by: str | None


class SmsSource(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Clock: ...

    async def texted(self, number: str) -> list[Open]: ...

    async def answer(self, fingerprint: str, firing: str, by: str, via: str) -> Answered: ...

    async def answer_ref(self, ref: str, by: str, via: str) -> Answered: ...


def command(body: str) -> Command:
    """What a reply asks for."""
    found = _COMMAND.match(body)
    if found is None:
        return Command("help")
    arg = (found.group(1) or "").lower()
    if not arg:
        return Command("one")
    if arg == "all":
        return Command("all")
    if arg.isdigit():
        return Command("code", str(int(arg)))
    if _REF.match(arg):
        return Command("ref", arg)
    return Command("help")


def sender(config: Config, number: str) -> str | None:
    """Who a number is: the contact with that phone, a number an SMS channel texts
    (named by its last four digits), or None (unknown: never answered)."""
    if not number:
        return None
    for name, contact in config.contacts.items():
        if contact.phone == number:
            return name
    for channel in config.channels.values():
        if channel.type == "sms" and number in channel.to:
            return f"phone ...{number[-4:]}"
    return None


def what(facts: AlertFacts | None) -> str:
    return "" if facts is None else f"{facts.rule} on {facts.check}"


def said(answered: Answered, label: str) -> tuple[str, str]:
    """The outcome and the answer to one acknowledgement."""
    if answered.outcome == "acked":
        return "acked", f"Acknowledged: {what(answered.facts)}."
    if answered.outcome == "already":
        return "already", f"Already acknowledged by {answered.by}: {what(answered.facts)}."
    return "gone", f"{label} is no longer firing."


def listing(alerts: list[Open]) -> str:
    codes = ", ".join(f"ACK {o.code} ({what(o.facts)})" for o in alerts[:5])
    more = f" and {len(alerts) - 5} more" if len(alerts) > 5 else ""
    return f"{len(alerts)} alerts open: reply {codes}{more}, or ACK ALL."


async def carry_out(source: SmsSource, who: str, number: str, asked: Command) -> tuple[str, str]:
    """Do what the reply asks; the outcome (a metric label) and the answer."""
    if asked.what == "help":
        return "help", HELP
    if asked.what == "ref":
        return said(await source.answer_ref(asked.arg, who, "sms"), f"Alert {asked.arg}")
    texted = await source.texted(number)
    if asked.what == "code":
        found = next((o for o in texted if str(o.code) == asked.arg), None)
        if found is None:
            known = listing(texted) if texted else "Nothing is open."
            return "unknown_code", f"No open alert {asked.arg} for this number. {known}"
        answered = await source.answer(found.fingerprint, found.firing, who, "sms")
        return said(answered, f"Alert {asked.arg}")
    waiting = [o for o in texted if o.acked_by is None]
    if not waiting:
        return "none_open", "Nothing open to acknowledge."
    if asked.what == "one" and len(waiting) > 1:
        return "listed", listing(waiting)
    if asked.what == "one":
        only = waiting[0]
        return said(await source.answer(only.fingerprint, only.firing, who, "sms"), "It")
    done = [await source.answer(o.fingerprint, o.firing, who, "sms") for o in waiting]
    acked = sum(1 for a in done if a.outcome == "acked")
    return "acked", f"Acknowledged {acked} alert{'' if acked == 1 else 's'}."


def _twiml(text: str | None) -> web.Response:
    body = f"<Response><Message>{escape(text)}</Message></Response>" if text else "<Response/>"
    return web.Response(text='<?xml version="1.0" encoding="UTF-8"?>' + body, content_type=TWIML)


def add_twilio_sms_routes(
    app: web.Application, source: SmsSource, gate: Gate, metrics: Metrics
) -> None:
    buckets: dict[str, Bucket] = {}  # known numbers only: bounded by the config

    def may_answer(number: str) -> bool:
        now = source.clock.monotonic()
        rate = 1.0 / REFILL
        if level(buckets.get(number), now, BURST, rate) < 1.0:
            return False
        buckets[number] = spend(buckets.get(number), now, BURST, rate)
        return True

    async def inbound(request: web.Request) -> web.Response:
        form = await verified(request, source.config, gate)
        if isinstance(form, web.Response):
            if form.status == 403:
                metrics.answers_refused.labels("sms", "forged").inc()
            return form
        number = form.get("From", "")
        who = sender(source.config, number)
        if who is None:
            metrics.answers_refused.labels("sms", "unknown_number").inc()
            log.warning("sms_reply_unknown_number")
            return _twiml(None)
        asked = command(form.get("Body", ""))
        outcome, text = await carry_out(source, who, number, asked)
        metrics.answers.labels("sms", outcome).inc()
        log.info("sms_reply", command=asked.what, outcome=outcome, contact=who)
        if not may_answer(number):
            metrics.answers_refused.labels("sms", "rate_limited").inc()
            return _twiml(None)
        return _twiml(text)

    app.router.add_post("/twilio/inbound", inbound)
