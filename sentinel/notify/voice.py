"""Phone calls through Twilio's Calls API that read the alert and take a keypress.

``POST {api_url}/2010-04-01/Accounts/{AccountSid}/Calls.json``, HTTP Basic
``AccountSid:AuthToken``, form-encoded ``To``, ``From``, ``Twiml`` (the call's
script, inline), ``Timeout`` (seconds it rings), ``StatusCallback`` (where
Twilio posts the call's outcome) and ``MachineDetection=Enable`` (so voicemail
counts as not answered). 201 is success: the call is placed, not answered; the
keypress and the outcome come back later to :mod:`sentinel.web.twilio_voice`
(docs/providers.md, "Twilio Voice"). Errors are Twilio's, as for SMS.

The URLs Twilio calls back carry the firing's signed ack token
(:mod:`sentinel.notify.acklink`), so a keypress acts on the outage it was
called about and never a later one; who pressed is the called number, which
Twilio's request signature covers.

Calls to one number are at most one a ``per_number`` (60 s): a second call due
sooner is a retryable ``rate_limited`` with the wait as its Retry-After.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from sentinel.config.models import VoiceChannel
from sentinel.notify.acklink import split_ack_url, voice_path
from sentinel.notify.base import DeliveryError, Notice, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.twilio import TwilioNotifier

PROMPT = "Press 1 to acknowledge, 2 to escalate now."
_CALLABLE = frozenset({"firing", "escalation", "repeat"})
SPOKEN_MAX = 600  # characters of alert text read out; Twilio takes at most 4,000 of TwiML
# Seconds an answered call may last: 600 characters read out (about 45 s), the prompt,
# 10 s for a key, the prompt once more, and Twilio's status callback: with ``ring``, how
# long methods listed after voice wait for an outcome (sentinel.notify.waiting).
IN_CALL = 120.0


def gather(action: str, text: str) -> str:
    """The TwiML that reads ``text`` and asks for one key, posted to ``action``."""
    return (
        f'<Response><Gather numDigits="1" action={quoteattr(action)} timeout="10">'
        f"<Say>{escape(text)}</Say><Say>{PROMPT}</Say></Gather>"
        "<Say>No answer recorded.</Say></Response>"
    )


def say(text: str) -> str:
    return f"<Response><Say>{escape(text)}</Say></Response>"


class VoiceNotifier(TwilioNotifier):
    min_interval = 1.0  # Twilio's default CPS for outbound calls is one a second
    digest = False  # a call is about one alert: a keypress acknowledges that one

    def __init__(self, channel: VoiceChannel, deps: NotifierDeps, name: str = "voice") -> None:
        super().__init__(channel, deps, name, "Calls")
        self._ring = channel.ring
        self.answer_window = channel.ring + IN_CALL
        self._per_number = channel.per_number
        self._last: dict[str, float] = {}  # number -> when it was last called

    def spoken(self, notice: Notice) -> str:
        text = " ".join(self._renderer.short(notice).split())
        return text if len(text) <= SPOKEN_MAX else text[: SPOKEN_MAX - 3] + "..."

    def form(self, notice: Notice, number: str) -> dict[str, str]:
        """The Calls.json form for one number; a notice that is not a page, or has no
        ack link to bind a keypress to, is read out without asking for one."""
        alert = notice.alert
        found = split_ack_url(alert.ack_url, alert.fingerprint) if alert is not None else None
        form = {"To": number, "From": self._from, "Timeout": str(int(self._ring))}
        if alert is None or found is None or notice.kind not in _CALLABLE:
            form["Twiml"] = say(self.spoken(notice))
            return form
        base, token = found
        action = base + voice_path(alert.fingerprint, token)
        form["Twiml"] = gather(action, self.spoken(notice))
        form["StatusCallback"] = action + "/status"
        form["StatusCallbackEvent"] = "completed"
        form["MachineDetection"] = "Enable"
        return form

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        numbers = self.numbers(address)
        now = self._now()
        wait = max(self._last.get(n, -1e18) + self._per_number - now for n in numbers)
        if wait > 0:
            raise DeliveryError(
                retry=True,
                reason="rate_limited",
                detail=f"one call a number each {self._per_number:g}s",
                retry_after=wait,
            )
        sids: list[str] = []
        for number in numbers:
            sids.append(await self.create(self.form(notice, number)))
            self._last[number] = now
        return Sent(ref={"sid": ",".join(sids)})
