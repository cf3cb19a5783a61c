"""``via: [voice, sms]``: call first, text only when the call does not get the alert
acknowledged. Timelines on a fake clock through the escalator, the outbox, the
dispatcher and the real notifiers, against strict Twilio and Slack fakes on loopback;
a restart in the middle of a call is a new dispatcher and escalator on the same store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from sentinel.clock import FakeClock
from sentinel.config.models import Config
from sentinel.escalation.escalator import Escalator, Live
from sentinel.escalation.targets import reach_contact
from sentinel.metrics import Metrics
from sentinel.notify import NotifierDeps, build_notifier
from sentinel.notify.base import AlertFacts
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.render import Renderer
from sentinel.notify.voice import IN_CALL
from sentinel.notify.waiting import Call, Verdict, after_call
from sentinel.probes.results import LatestResults
from sentinel.store.sqlite import SqliteStore
from tests.notify.fakes import Fault, SlackApi, Twilio, TwilioCalls
from tests.polling import settle as settled

SID, AUTH, SLACK = "AC" + "3" * 32, "twilio-auth-secret-0123", "xoxb-1-secret"
ALICE, CAROL = "+15550100001", "+15550100003"
RING = 30.0
WINDOW = RING + IN_CALL
FP = "f" * 20


def config(calls: str, sms: str, slack: str, **contacts: Any) -> Config:
    return Config.model_validate(
        {
            "contacts": {
                "alice": {"phone": ALICE, "email": "alice@example.com", "via": ["voice", "sms"]},
                "carol": {"phone": CAROL, "slack": "@alice", "via": ["slack", "voice", "sms"]},
                "dave": {"phone": "+15550100004", "email": "dave@example.com"},
                **contacts,
            },
            "channels": {
                "phone": {
                    "type": "voice",
                    "account_sid": SID,
                    "auth_token": AUTH,
                    "from": "+15550109999",
                    "api_url": calls,
                    "ring": f"{RING:g}s",
                },
                "text": {
                    "type": "sms",
                    "account_sid": SID,
                    "auth_token": AUTH,
                    "from": "+15550109999",
                    "api_url": sms,
                },
                "chat": {
                    "type": "slack",
                    "token": SLACK,
                    "channel": "#ops",
                    "api_url": slack + "/api/",
                },
                "mail": {
                    "type": "smtp",
                    "host": "127.0.0.1",
                    "port": 1,
                    "tls": "none",
                    "from": "sentinel@example.com",
                },
            },
            "escalation": {
                "critical": [{"after": "0m", "notify": ["alice"]}],
                "high": [{"after": "0m", "notify": ["carol"]}],
            },
            "notifications": {"retry_initial": "1s", "retry_max": "30s"},
        }
    )


@dataclass
class World:
    clock: FakeClock
    store: SqliteStore
    calls: TwilioCalls
    sms: Twilio
    slack: SlackApi
    session: aiohttp.ClientSession
    cfg: Config
    esc: Escalator
    dispatcher: Dispatcher

    def t(self) -> float:
        return self.clock.now().timestamp()

    async def boot(self) -> None:
        """A (new) dispatcher and escalator on the store, as the daemon starts them."""
        metrics = Metrics(CollectorRegistry(), LatestResults(), "test")
        self.dispatcher = Dispatcher(
            self.store, self.clock, metrics, self.cfg.notifications, jitter=lambda: 0.5
        )
        deps = NotifierDeps(self.session, Renderer(), self.t)
        self.dispatcher.configure(
            {n: (ch.type, build_notifier(n, ch, deps)) for n, ch in self.cfg.channels.items()},
            self.cfg.notifications,
        )
        await self.dispatcher.start()
        self.esc = Escalator(self.cfg, self.store, self.dispatcher, self.clock, metrics)
        await self.esc.restore()


@pytest.fixture
async def world(tmp_path: Any) -> AsyncIterator[World]:
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    async with (
        TwilioCalls(SID, AUTH) as calls,
        Twilio(SID, AUTH) as sms,
        SlackApi(SLACK) as slack,
        aiohttp.ClientSession() as session,
    ):
        store = SqliteStore(str(tmp_path / "state.db"))
        await store.open()
        cfg = config(calls.url, sms.url, slack.url)
        w = World(clock, store, calls, sms, slack, session, cfg, None, None)  # type: ignore[arg-type]
        await w.boot()
        yield w
        await w.dispatcher.stop()
        await store.close()


def live(severity: str = "critical") -> dict[str, Live]:
    facts = AlertFacts(
        fingerprint=FP,
        rule="ServiceDown",
        check="api",
        severity=severity,
        ack_ref=FP[:6],
        since=1_767_603_600.0,
    )
    return {FP: Live(facts=facts, quiet=None, flapping=False, policy=None)}


async def settle(w: World) -> None:
    """Wait (real time, bounded) for due sends' HTTP and SQLite I/O."""
    await settled(w.dispatcher)


async def run_until(w: World, second: float, start: float, alert: dict[str, Live]) -> None:
    """Advance the fake clock 5 s at a time to ``start + second``, ticking as the daemon."""
    while w.t() < start + second:
        await w.esc.tick(alert)
        await settle(w)
        await w.clock.advance(min(5.0, start + second - w.t()))
        await settle(w)


def texts(w: World) -> list[str]:
    return [r.form["To"] for r in w.sms.accepted]


async def states(w: World) -> dict[str, str]:
    return {d.channel: d.state for d in await w.store.deliveries_for(FP)}


# -- the pure decision -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "settled", "now", "verdict"),
    [
        (Call(placed_at=100.0), True, 110.0, Verdict("drop")),  # keypress 1, or a Slack ack
        (Call(failed="no-answer"), True, 110.0, Verdict("drop")),  # acked before the outcome
        (Call(placed_at=100.0, failed="no-answer"), False, 110.0, Verdict("send")),
        (Call(failed="auth"), False, 0.0, Verdict("send")),  # the call could not be placed
        (Call(), False, 500.0, Verdict("wait")),  # queued or rate-limited: not placed yet
        (Call(placed_at=100.0), False, 110.0, Verdict("wait", 100.0 + WINDOW)),
        (Call(placed_at=100.0), False, 100.0 + WINDOW, Verdict("send")),  # no ack in the call
        (None, False, 0.0, Verdict("send")),  # the call's row is unknown: never lose a page
    ],
)
def test_after_call(call: Call | None, settled: bool, now: float, verdict: Verdict) -> None:
    """What becomes of a method waiting for a call, case by case."""
    assert after_call(call, settled, now, WINDOW) == verdict


def test_via_order_without_voice_is_all_at_once() -> None:
    """``via`` without voice (and methods before voice) go at once, as before; methods
    after voice wait for it; an unreachable voice makes nobody wait."""
    cfg = config("http://x", "http://x", "http://x", bob={"phone": ALICE, "via": ["sms", "voice"]})
    assert [(r.route[0], r.after) for r in reach_contact(cfg, "dave")] == [
        ("text", None),
        ("mail", None),
    ]
    assert [(r.route[0], r.after) for r in reach_contact(cfg, "bob")] == [
        ("text", None),
        ("phone", None),
    ]
    assert [(r.route[0], r.after) for r in reach_contact(cfg, "alice")] == [
        ("phone", None),
        ("text", ("phone", ALICE)),
    ]
    assert [(r.route[0], r.after) for r in reach_contact(cfg, "carol")] == [
        ("chat", None),
        ("phone", None),
        ("text", ("phone", CAROL)),
    ]
    no_phone = config("http://x", "http://x", "http://x", erin={"email": "e@example.com",
                      "via": ["voice", "email"]})  # fmt: skip
    assert [(r.route[0], r.after) for r in reach_contact(no_phone, "erin")] == [("mail", None)]


# -- timelines -------------------------------------------------------------------------


async def test_keypress_1_during_the_call_means_no_text(world: World) -> None:
    """0 s: the call is placed, the text waits; 20 s: alice presses 1; to 30 min: no text."""
    start, alert = world.t(), live()
    await run_until(world, 5, start, alert)
    assert [r.form["To"] for r in world.calls.accepted] == [ALICE]
    assert texts(world) == []
    assert (await states(world))["text"] == "waiting"
    await run_until(world, 20, start, alert)
    assert await world.esc.acknowledge(FP, "alice", "voice")
    await run_until(world, 1800, start, alert)
    assert texts(world) == []
    assert (await states(world))["text"] == "skipped"


async def test_no_answer_sends_the_text_at_once(world: World) -> None:
    """Twilio says no-answer at 40 s: the text goes then, long before the window ends;
    a repeated callback sends nothing more, and nothing falls through to email."""
    start, alert = world.t(), live()
    await run_until(world, 40, start, alert)
    assert texts(world) == []
    assert await world.esc.unanswered(FP, world.calls.sids[0], "no-answer")
    await settle(world)
    assert texts(world) == [ALICE]
    assert "ServiceDown" in world.sms.accepted[0].form["Body"]
    assert not await world.esc.unanswered(FP, world.calls.sids[0], "no-answer")
    await run_until(world, 1800, start, alert)
    assert texts(world) == [ALICE]
    assert {d.channel for d in await world.store.deliveries_for(FP)} == {"phone", "text"}


async def test_answered_without_a_key_texts_when_the_window_ends(world: World) -> None:
    """No outcome comes back (answered and hung up, or the callback is lost): the text
    goes when the call's window (ring + in-call time) has passed, not before."""
    start, alert = world.t(), live()
    await run_until(world, WINDOW - 5, start, alert)
    assert texts(world) == []
    await run_until(world, WINDOW + 5, start, alert)
    assert texts(world) == [ALICE]


async def test_slack_at_once_and_sms_only_on_an_unanswered_call(world: World) -> None:
    """carol, ``via: [slack, voice, sms]``: Slack and the call at 0 s, the text only when
    the call is not answered."""
    start, alert = world.t(), live("high")
    await run_until(world, 30, start, alert)
    assert len(world.slack.accepted) == 1
    assert [r.form["To"] for r in world.calls.accepted] == [CAROL]
    assert texts(world) == []
    assert await world.esc.unanswered(FP, world.calls.sids[0], "busy")
    await settle(world)
    assert texts(world) == [CAROL]


async def test_a_call_that_cannot_be_placed_texts_at_once(world: World) -> None:
    """Twilio refuses the call for good (bad number): the text goes at once, in place of
    the fall-through to the contact's next method."""
    world.calls.inject(Fault(400, {"code": 21211, "message": "invalid", "status": 400}))
    start, alert = world.t(), live()
    await run_until(world, 5, start, alert)
    assert world.calls.accepted == []
    assert texts(world) == [ALICE]
    assert {d.channel: d.state for d in await world.store.deliveries_for(FP)} == {
        "phone": "failed",
        "text": "sent",
    }


async def test_a_restart_mid_call_still_texts_when_the_call_fails(world: World) -> None:
    """The process stops while the call rings; the new one, on the same store, texts when
    Twilio reports no-answer."""
    start, alert = world.t(), live()
    await run_until(world, 10, start, alert)
    sid = world.calls.sids[0]
    await world.dispatcher.stop()
    await world.boot()
    await run_until(world, 20, start, alert)
    assert texts(world) == []
    assert await world.esc.unanswered(FP, sid, "no-answer")
    await settle(world)
    assert texts(world) == [ALICE]


async def test_a_restart_mid_call_keeps_the_window(world: World) -> None:
    """After a restart with no outcome ever coming back, the text still goes when the
    window of the call placed before the restart has passed."""
    start, alert = world.t(), live()
    await run_until(world, 10, start, alert)
    await world.dispatcher.stop()
    await world.boot()
    await run_until(world, WINDOW - 5, start, alert)
    assert texts(world) == []
    await run_until(world, WINDOW + 5, start, alert)
    assert texts(world) == [ALICE]
    assert len(world.calls.accepted) == 1
