"""SMS through Twilio's Messages API, one GSM-7 segment per page.

``POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP Basic
``AccountSid:AuthToken``, form-encoded ``To``, ``From``, ``Body``
(docs/providers.md, "Twilio SMS"). 201 is success; 400 (21xxx) and
401 (20003) are permanent; 429 (20429) and 5xx are retried with our own
backoff, knowing that a retried POST may deliver twice.

A page must fit one 160-character GSM-7 segment: one character outside the
GSM-7 alphabet switches the whole message to UCS-2 (70 characters a segment),
and a split page arrives in pieces or out of order. :func:`sms_text` therefore
transliterates or drops every other character and always keeps the short
acknowledgement reference: "Reply ACK 4" when the page carries the recipient's
reply code (:mod:`sentinel.escalation.replies`; the answer comes back to
:mod:`sentinel.web.twilio_sms`), else "ACK <ref>" (the alert's id, which a reply
or ``sentinel ack`` takes too).
"""

from __future__ import annotations

import re
import unicodedata

from sentinel.config.models import SmsChannel
from sentinel.notify.base import Notice, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.twilio import TwilioNotifier

SEGMENT = 160
# GSM 03.38 basic character set (ESC, 0x1B, left out: it only introduces the extension).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€")  # each costs two septets (ESC + char)
_TRANSLIT = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\t": " ", "\u2022": "*", "\u00d7": "x",
    "\u2192": "->", "\u2264": "<=", "\u2265": ">=", "\u00b0": "o",
}  # fmt: skip
_SPACES = re.compile(r"\s+")
ACK_ROOM = 40  # characters of the head kept before the ack URL is given up for it


def gsm_cost(text: str) -> int:
    """Septets ``text`` takes: 1 per basic character, 2 per extension character."""
    return sum(2 if c in GSM_EXTENSION else 1 for c in text)


def to_gsm(text: str) -> str:
    """``text`` in the GSM-7 alphabet: look-alikes transliterated, accents stripped
    where the accented letter is not in the set, anything else dropped; whitespace
    (newlines too) folded into single spaces."""
    out: list[str] = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENSION:
            out.append(char)
        elif char in _TRANSLIT:
            out.append(_TRANSLIT[char])
        else:
            base = unicodedata.normalize("NFKD", char)
            out.extend(c for c in base if c in GSM_BASIC or c in GSM_EXTENSION)
    return _SPACES.sub(" ", "".join(out)).strip()


def _cut(text: str, budget: int) -> str:
    """``text`` cut to ``budget`` septets, with ``...`` when something was cut."""
    if gsm_cost(text) <= budget:
        return text
    if budget < 3:
        return ""
    kept, used = [], 0
    for char in text:
        cost = gsm_cost(char)
        if used + cost > budget - 3:
            break
        kept.append(char)
        used += cost
    return "".join(kept).rstrip() + "..."


def sms_text(head: str, ack_ref: str = "", ack_url: str | None = None, reply: str = "") -> str:
    """One GSM-7 segment: ``head`` (cut as needed), then ``Reply ACK <reply>`` (or
    ``ACK <ref>`` without a reply code), then the ack URL when it fits beside a
    readable head. The result is at most 160 septets and every character is in the
    GSM-7 basic or extension set."""
    head = to_gsm(head)
    ref = to_gsm(ack_ref).replace(" ", "")
    code = to_gsm(reply).replace(" ", "")
    ref_part = _cut(f"Reply ACK {code}" if code else f"ACK {ref}", SEGMENT) if code or ref else ""
    url = (ack_url or "").strip()
    # A URL that would need changing to fit the alphabet would no longer work.
    url_part = url if url and to_gsm(url) == url and " " not in url else ""

    tail = " ".join(p for p in (ref_part, url_part) if p)
    if url_part and gsm_cost(tail) + 1 + min(gsm_cost(head), ACK_ROOM) > SEGMENT:
        tail = ref_part
    if not tail:
        return _cut(head, SEGMENT)
    room = SEGMENT - gsm_cost(tail) - 1
    head = _cut(head, room) if room > 0 else ""
    return f"{head} {tail}" if head else _cut(tail, SEGMENT)


_ACKABLE = frozenset({"firing", "escalation", "repeat", "flapping"})


class SmsNotifier(TwilioNotifier):
    min_interval = 1.0  # Twilio queues a long-code sender at about one message a second
    digest = True

    def __init__(self, channel: SmsChannel, deps: NotifierDeps, name: str = "sms") -> None:
        super().__init__(channel, deps, name, "Messages")

    def body(self, notice: Notice) -> str:
        alert = notice.alert
        if alert is not None and notice.kind in _ACKABLE:
            return sms_text(
                self._renderer.short(notice), alert.ack_ref, alert.ack_url, notice.reply
            )
        return sms_text(self._renderer.short(notice))

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        numbers = self.numbers(address)
        text = self.body(notice)
        sids: list[str] = []
        # One request per number; a failure part-way is retried whole, so a retry may
        # page the first numbers twice (rare: channels usually have one number).
        for number in numbers:
            sids.append(await self.create({"To": number, "From": self._from, "Body": text}))
        return Sent(ref={"sid": ",".join(sids)})
