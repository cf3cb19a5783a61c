"""type: voice: the call Twilio is asked to place, the strict Calls fake, one call a
number a minute, and the pure escalate-now decision."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from xml.etree import ElementTree

import aiohttp
import pytest

from sentinel.config.models import VoiceChannel
from sentinel.escalation import policy as pol
from sentinel.notify.acklink import make_token
from sentinel.notify.base import DeliveryError
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.render import Renderer
from sentinel.notify.voice import VoiceNotifier, gather
from sentinel.web.twilio_voice import outcome
from tests.notify.fakes import T0, TwilioCalls, alert, notice

SID, TOKEN = "AC" + "1" * 32, "t" * 32
FP = "a1b2c3d4e5f60718"


@pytest.fixture
async def calls() -> AsyncIterator[TwilioCalls]:
    async with TwilioCalls(SID, TOKEN) as fake:
        yield fake


def notifier(url: str, session: aiohttp.ClientSession, clock: list[float]) -> VoiceNotifier:
    channel = VoiceChannel.model_validate(
        {"type": "voice", "account_sid": SID, "auth_token": TOKEN, "from": "+15550001111",
         "api_url": url, "ring": "25s"}
    )  # fmt: skip
    return VoiceNotifier(channel, NotifierDeps(session, Renderer(), lambda: clock[0]))


async def test_call_reads_the_alert_and_gathers_one_key(calls: TwilioCalls) -> None:
    """To/From/Timeout, inline TwiML with a Gather posting to the firing's voice URL,
    the status callback beside it, and answering-machine detection."""
    token = make_token(FP, T0, T0 + 86400, b"k")
    facts = alert(ack_url=f"https://sentinel.example.com/ack/{FP}/{token}")
    async with aiohttp.ClientSession() as s:
        sent = await notifier(calls.url, s, [T0]).send(notice(alert=facts), "+15550002222", None)
    assert sent.ref is not None
    assert sent.ref["sid"].startswith("CA")
    form = calls.accepted[0].form
    assert (form["To"], form["From"], form["Timeout"]) == ("+15550002222", "+15550001111", "25")
    action = f"https://sentinel.example.com/twilio/voice/{FP}/{token}"
    assert form["StatusCallback"] == action + "/status"
    assert form["MachineDetection"] == "Enable"
    root = ElementTree.fromstring(form["Twiml"])  # noqa: S314 (what we generated)
    gather = root.find("Gather")
    assert gather is not None
    assert (gather.get("numDigits"), gather.get("action"), gather.get("timeout")) == (
        "1", action, "10"
    )  # fmt: skip
    said = [e.text for e in gather.findall("Say")]
    assert "production-api" in str(said[0])
    assert said[1] == "Press 1 to acknowledge, 2 to escalate now."
    assert root.findall("Say")[-1].text == "No answer recorded."


@pytest.mark.parametrize("missing", ["To", "From", "Twiml"])
async def test_fake_rejects_a_call_without_a_required_field(
    calls: TwilioCalls, missing: str
) -> None:
    """The strict fake answers Twilio's 400 for each missing field."""
    form = {"To": "+15550002222", "From": "+15550001111", "Twiml": "<Response/>"}
    del form[missing]
    auth = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    async with aiohttp.ClientSession() as s:
        path = f"/2010-04-01/Accounts/{SID}/Calls.json"
        async with s.post(calls.url + path, data=form, headers={"Authorization": auth}) as r:
            assert r.status == 400
    assert calls.accepted == []


async def test_one_call_a_number_a_minute(calls: TwilioCalls) -> None:
    """A second call to the same number within 60 s waits (retryable, with the wait);
    another number is called at once; after the minute the first number is called."""
    clock = [T0]
    async with aiohttp.ClientSession() as s:
        n = notifier(calls.url, s, clock)
        await n.send(notice(), "+15550002222", None)
        clock[0] += 20
        with pytest.raises(DeliveryError) as info:
            await n.send(notice(), "+15550002222", None)
        assert (info.value.retry, info.value.reason, info.value.retry_after) == (
            True, "rate_limited", 40.0
        )  # fmt: skip
        await n.send(notice(), "+15550003333", None)
        clock[0] += 40
        await n.send(notice(), "+15550002222", None)
    assert [r.form["To"] for r in calls.accepted] == ["+15550002222", "+15550003333"] * 1 + [
        "+15550002222"
    ]


def _policy() -> pol.Policy:
    steps = (pol.PolicyStep(0, ("alice",)), pol.PolicyStep(900, ("bob",)),
             pol.PolicyStep(1800, ("carol",)))  # fmt: skip
    return pol.Policy("critical", steps, repeat_every=3600)


def test_escalate_now_sends_the_next_step_and_keeps_the_spacing() -> None:
    """After step 0, "escalate now" at +60 s pages step 1 at once; step 2 then comes
    900 s after that (its spacing from step 1), not at +1800 s from the firing."""
    p, pages = pol.due(pol.start(FP, _policy(), T0), T0)
    assert [pg.targets for pg in pages] == [("alice",)]
    p, pages = pol.escalate_now(p, T0 + 60)
    assert [(pg.kind, pg.step, pg.targets) for pg in pages] == [("escalation", 1, ("bob",))]
    assert pol.next_due(p) == T0 + 60 + 900
    assert pol.due(p, T0 + 959)[1] == []
    assert [pg.targets for pg in pol.due(p, T0 + 960)[1]] == [("carol",)]


def test_escalate_now_after_the_last_step_repeats_and_nothing_when_acked() -> None:
    p, _ = pol.due(pol.start(FP, _policy(), T0), T0 + 1800)
    p, _ = pol.due(p, T0 + 1800)
    p, _ = pol.due(p, T0 + 1800)
    assert p.next_step == 3
    _, pages = pol.escalate_now(p, T0 + 1900)
    assert [(pg.kind, pg.targets) for pg in pages] == [("repeat", ("alice", "bob", "carol"))]
    acked, _ = pol.acknowledge(p, "alice", T0 + 1850)
    assert pol.escalate_now(acked, T0 + 1900) == (acked, [])


@pytest.mark.parametrize(
    ("form", "why"),
    [
        ({"CallStatus": "completed", "AnsweredBy": "human"}, None),
        ({"CallStatus": "completed"}, None),
        ({"CallStatus": "completed", "AnsweredBy": "machine_start"}, "machine_start"),
        ({"CallStatus": "completed", "AnsweredBy": "machine_end_beep"}, "machine_end_beep"),
        ({"CallStatus": "completed", "AnsweredBy": "fax"}, "fax"),
        ({"CallStatus": "no-answer"}, "no-answer"),
        ({"CallStatus": "busy"}, "busy"),
        ({"CallStatus": "failed"}, "failed"),
        ({"CallStatus": "canceled"}, "canceled"),
        ({"CallStatus": "in-progress"}, None),
    ],
)
def test_what_counts_as_not_answered(form: dict[str, str], why: str | None) -> None:
    """Voicemail (answering-machine detection), busy, no answer, failed and canceled
    fall through; a person who picked up does not."""
    assert outcome(form) == why


def test_twiml_escapes_what_the_alert_says() -> None:
    """An alert text with XML characters stays text; the action URL stays one attribute."""
    root = ElementTree.fromstring(gather('https://x/a?b=1&c="2"', "<b>disk & cpu</b>"))  # noqa: S314
    node = root.find("Gather")
    assert node is not None
    assert node.get("action") == 'https://x/a?b=1&c="2"'
    assert node.findall("Say")[0].text == "<b>disk & cpu</b>"
