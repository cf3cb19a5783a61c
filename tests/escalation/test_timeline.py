"""The escalation matrix end to end on a fake clock: policy -> targets -> outbox ->
dispatcher -> real notifiers -> strict provider fakes on loopback. Nothing sleeps in
fake time; only the real HTTP and SQLite I/O of each step is waited for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from sentinel.clock import FakeClock
from sentinel.config.models import Config, Step
from sentinel.escalation.escalator import Escalator, Live
from sentinel.metrics import Metrics
from sentinel.notify import build_notifier
from sentinel.notify.base import AlertFacts, Notice
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.render import Renderer
from sentinel.probes.results import LatestResults
from sentinel.store.sqlite import SqliteStore
from tests.notify.fakes import Fault, PagerDuty, SendGrid, SlackApi, Twilio
from tests.polling import settle as settled

SID, AUTH, SLACK, SG, PD_KEY = (
    "AC" + "1" * 32,
    "twilio-auth-secret",
    "xoxb-1-secret",
    "SG.key",
    "p" * 32,
)


@dataclass
class World:
    clock: FakeClock
    esc: Escalator
    dispatcher: Dispatcher
    store: SqliteStore
    pd: PagerDuty
    slack: SlackApi
    sms: Twilio
    mail: SendGrid
    log: list[tuple[int, str, str]]  # (second, provider, what)
    counted: dict[str, int]

    def seen(self) -> list[tuple[int, str, str]]:
        return sorted(self.log)

    def collect(self) -> None:
        """Log what the fakes accepted since the last look, at the current fake second."""
        t = int(self.clock.monotonic() - 1000)
        for provider, n in snapshot(self).items():
            for i in range(self.counted.get(provider, 0), n):
                self.log.append((t, provider, describe(self, provider, i)))
            self.counted[provider] = n


def config(pd: str, slack: str, sms: str, mail: str, **escalation: Any) -> Config:
    return Config.model_validate(
        {
            "contacts": {
                "alice": {"email": "alice@example.com", "phone": "+15550100001"},
                "bob": {"email": "bob@example.com", "phone": "+15550100002"},
                "eng-lead": {"email": "lead@example.com", "phone": "+15550100003"},
                "cto": {"phone": "+15550100004"},
                "ceo": {"phone": "+15550100005"},
            },
            "oncall": {
                "primary": {
                    "rotation": ["alice", "bob"],
                    "shift": "1w",
                    "handoff": "2026-01-05T09:00:00",
                    "timezone": "Europe/London",
                }
            },
            "channels": {
                "slack-alerts": {
                    "type": "slack",
                    "token": SLACK,
                    "channel": "#ops",
                    "api_url": slack + "/api/",
                },
                "pagerduty": {"type": "pagerduty", "routing_key": PD_KEY, "api_url": pd},
                "email": {
                    "type": "email",
                    "api_key": SG,
                    "from": "sentinel@example.com",
                    "api_url": mail,
                },
                "sms": {
                    "type": "sms",
                    "account_sid": SID,
                    "auth_token": AUTH,
                    "from": "+15550109999",
                    "api_url": sms,
                },
            },
            "escalation": {
                "critical": [
                    {"after": "0m", "notify": ["oncall:primary", "pagerduty", "slack-alerts"]},
                    {"after": "15m", "notify": ["eng-lead"]},
                    {"after": "30m", "notify": ["cto"]},
                    {"after": "1h", "notify": ["ceo"]},
                ],
                "high": [
                    {"after": "0m", "notify": ["slack-alerts", "email:ops@example.com"]},
                    {"after": "15m", "notify": ["oncall:primary"]},
                    {"after": "30m", "notify": ["eng-lead"]},
                ],
                "repeat_every": "1h",
                "ack_expires_after": "4h",
                **escalation,
            },
            "notifications": {"retry_initial": "1s", "retry_max": "30s"},
        }
    )


@pytest.fixture
def start(request: pytest.FixtureRequest) -> datetime:
    """When the fake clock starts: Monday 2026-01-05 09:00 UTC (alice's week on call)
    unless a test parametrizes it."""
    return getattr(request, "param", datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
async def world(start: datetime) -> AsyncIterator[World]:
    clock = FakeClock(start)
    async with (
        PagerDuty() as pd,
        SlackApi(SLACK) as slack,
        Twilio(SID, AUTH) as sms,
        SendGrid(SG) as mail,
        aiohttp.ClientSession() as session,
    ):
        cfg = config(pd.url, slack.url, sms.url, mail.url)
        store = SqliteStore(":memory:")
        await store.open()
        metrics = Metrics(CollectorRegistry(), LatestResults(), "test")
        dispatcher = Dispatcher(store, clock, metrics, cfg.notifications, jitter=lambda: 0.5)
        renderer = Renderer()
        notifiers = {
            name: (
                ch.type,
                build_notifier(
                    name, ch, NotifierDeps(session, renderer, lambda: clock.now().timestamp())
                ),
            )
            for name, ch in cfg.channels.items()
        }
        dispatcher.configure(notifiers, cfg.notifications)
        await dispatcher.start()
        esc = Escalator(cfg, store, dispatcher, clock, metrics)
        w = World(clock, esc, dispatcher, store, pd, slack, sms, mail, [], {})
        yield w
        await dispatcher.stop()
        await store.close()


def facts(severity: str = "critical", fp: str = "f" * 20, since: float | None = None) -> AlertFacts:
    return AlertFacts(
        fingerprint=fp,
        rule="ServiceDown",
        check="production-api",
        severity=severity,
        ack_ref=fp[:6],
        since=since,
    )


async def settle(w: World) -> None:
    """Wait (real time, bounded) for due sends' HTTP and SQLite I/O, then log them."""
    await settled(w.dispatcher)
    w.collect()


def snapshot(w: World) -> dict[str, int]:
    return {
        "pd": len(w.pd.accepted),
        "slack": len(w.slack.accepted),
        "sms": len(w.sms.accepted),
        "mail": len(w.mail.accepted),
    }


def describe(w: World, provider: str, index: int) -> str:
    if provider == "pd":
        return str(w.pd.accepted[index].json["event_action"])
    if provider == "sms":
        return w.sms.accepted[index].form["To"]
    if provider == "mail":
        return str(w.mail.accepted[index].json["personalizations"][0]["to"][0]["email"])
    return w.slack.accepted[index].path.rsplit("/", 1)[-1]


async def run(w: World, seconds: int, live: dict[str, Live], step: int = 5) -> None:
    """Advance ``seconds`` of fake time, ticking the escalator as the daemon does."""
    for _ in range(0, seconds, step):
        await w.esc.tick(live)
        await settle(w)
        await w.clock.advance(step)
        await settle(w)


def firing(
    severity: str = "critical", quiet: str | None = None, since: float | None = None
) -> dict[str, Live]:
    f = facts(severity, since=since)
    return {f.fingerprint: Live(facts=f, quiet=quiet, flapping=False, policy=None)}


async def test_critical_matrix_pages_level_by_level(world: World) -> None:
    """Critical: on-call (alice, SMS+email), PagerDuty and Slack at once; the lead at 15m,
    the CTO at 30m, the CEO at 1h; then a repeat to everyone at 2h."""
    await run(world, 2 * 3600 + 10, firing())
    minutes = [(t // 60, p, what) for t, p, what in world.seen()]
    assert minutes[:4] == [
        (0, "mail", "alice@example.com"),
        (0, "pd", "trigger"),
        (0, "slack", "chat.postMessage"),
        (0, "sms", "+15550100001"),
    ]
    assert [m for m in minutes if m[0] in (15, 30, 60)] == [
        (15, "mail", "lead@example.com"),
        (15, "sms", "+15550100003"),
        (30, "sms", "+15550100004"),
        (60, "sms", "+15550100005"),
    ]
    repeat = [m for m in minutes if m[0] >= 119]
    assert sorted(p for _, p, _ in repeat) == [
        "mail",
        "mail",
        "pd",
        "slack",
        "slack",
        "sms",
        "sms",
        "sms",
        "sms",
    ]


async def test_a_store_failure_delays_a_step_and_never_loses_it(world: World) -> None:
    """The store refuses outbox rows (a real SQLite error, from a trigger) when the alert
    fires: no page can be written, and none is lost: once the store takes writes again,
    the next tick pages step 0 as if it had just fallen due."""
    await world.store.db.execute(
        "CREATE TRIGGER broken BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk'); END"
    )
    with pytest.raises(Exception, match="disk"):
        await world.esc.tick(firing())
    await settle(world)
    assert world.seen() == []
    await world.store.db.execute("DROP TRIGGER broken")
    await run(world, 5, firing())
    assert sorted(p for _, p, _ in world.seen()) == ["mail", "pd", "slack", "sms"]


async def test_ack_stops_escalation_and_tells_everyone_told(world: World) -> None:
    """Acked at 20m: the CTO and CEO are never paged; alice, the lead, PagerDuty and Slack
    hear who acknowledged (PagerDuty as an acknowledge event, Slack in the thread)."""
    live = firing()
    await run(world, 20 * 60, live)
    assert await world.esc.acknowledge("f" * 20, "alice", "api")
    before = len(world.log)
    await run(world, 3 * 3600, live)
    after = sorted(world.log[before:])
    assert {(p, what) for _, p, what in after} == {
        ("pd", "acknowledge"),
        ("slack", "chat.postMessage"),
        ("slack", "chat.update"),
        ("sms", "+15550100001"),
        ("sms", "+15550100003"),
        ("mail", "alice@example.com"),
        ("mail", "lead@example.com"),
    }
    assert all(t // 60 == 20 for t, _, _ in after)
    assert world.pd.incidents == {"f" * 20: "acknowledged"}
    reply = [r.json for r in world.slack.accepted if r.path.endswith("postMessage")][-1]
    assert reply["thread_ts"]  # in the first message's thread


async def test_ack_expiry_reescalates_from_the_first_step(world: World) -> None:
    """An ack expires after 4h while the alert still fires: step 0 pages again."""
    live = firing()
    await run(world, 60, live)
    await world.esc.acknowledge("f" * 20, "bob", "api")
    mark = len(world.log)
    await run(world, 4 * 3600 + 120, live)
    later = sorted(world.log[mark:])
    assert {t // 60 for t, _, _ in later} == {1, 241}  # the ack notices, then step 0 again
    again = {p for t, p, _ in later if t // 60 == 241}
    assert again == {"pd", "sms", "slack", "mail"}


async def test_resolution_reaches_exactly_those_told_with_duration(world: World) -> None:
    """Resolved at 17m: those told (on-call, PagerDuty, Slack, the lead) hear it; the
    CTO, never told, does not."""
    live = firing()
    await run(world, 17 * 60, live)
    mark = len(world.log)
    await world.esc.resolved("f" * 20)
    await settle(world)
    await run(world, 3600, {})
    after = {(p, w) for _, p, w in world.log[mark:]}
    assert ("pd", "resolve") in after
    assert ("sms", "+15550100004") not in after
    assert ("sms", "+15550100003") in after
    assert world.pd.incidents == {"f" * 20: "resolved"}
    body = [r.form["Body"] for r in world.sms.accepted][-1]
    assert "17m" in body or "RESOLVED" in body.upper()


async def test_suppressed_alert_never_pages_and_starts_when_unsuppressed(world: World) -> None:
    """Silenced for 10 minutes: nothing is sent; when the silence ends while it still
    fires, step 0 goes out then and later steps count from then."""
    await run(world, 600, firing(quiet="silenced by s1"))
    assert world.log == []
    await run(world, 16 * 60, firing())
    minutes = sorted({(t // 60, p) for t, p, _ in world.log})
    assert minutes[0][0] == 10
    assert (25, "sms") in minutes


async def test_provider_outage_delays_but_loses_nothing(world: World) -> None:
    """PagerDuty answers 503 three times, Twilio 429 twice (our backoff: 0.75 s, then
    1.5 s) and Slack 429 with Retry-After 20: every page arrives later, once."""
    world.pd.inject(Fault(503), Fault(503), Fault(503))
    busy = {"code": 20429, "message": "Too Many Requests", "status": 429}
    world.sms.inject(Fault(429, busy), Fault(429, busy))
    world.slack.inject(Fault(429, "", {"Retry-After": "20"}))
    await run(world, 120, firing(), step=1)
    triggers = [r for r in world.pd.accepted if r.json["event_action"] == "trigger"]
    assert len(triggers) == 1
    assert [r.form["To"] for r in world.sms.accepted] == ["+15550100001"]
    first = {p: t for t, p, _ in reversed(world.seen())}
    assert first["pd"] in (5, 6)
    assert first["sms"] in (2, 3)
    assert first["slack"] in (20, 21)
    assert len(world.slack.accepted) == 1


async def test_permanent_sms_error_falls_through_to_email(world: World) -> None:
    """Twilio rejects the number (21211): alice still hears by email and the SMS channel
    is marked broken; nothing retries the SMS."""
    world.sms.inject(Fault(400, {"code": 21211, "message": "invalid To", "status": 400}))
    await run(world, 30, firing(), step=1)
    assert world.dispatcher.broken.get("sms")
    assert world.sms.seen == 1
    emails = [r.json["personalizations"][0]["to"][0]["email"] for r in world.mail.accepted]
    assert emails.count("alice@example.com") >= 1


@pytest.mark.parametrize("start", [datetime(2026, 1, 5, 8, 50, tzinfo=UTC)], indirect=True)
async def test_oncall_is_resolved_when_the_step_is_sent(world: World) -> None:
    """A high alert fires at 08:50 on Monday, ten minutes before the weekly handoff from
    bob to alice: its 15-minute on-call step (09:05) pages alice, not bob."""
    await run(world, 16 * 60, firing("high"))
    sms = [(t // 60, w) for t, p, w in world.seen() if p == "sms"]
    assert sms == [(15, "+15550100001")]


async def test_override_takes_the_page(world: World) -> None:
    """While an override puts bob on call in alice's week, the first step pages bob."""
    cfg = world.esc.config
    primary = cfg.oncall["primary"].model_dump(by_alias=True)
    primary["overrides"] = [
        {"who": "bob", "from": "2026-01-05T08:00:00", "until": "2026-01-05T17:00:00"}
    ]
    oncall = {"primary": type(cfg.oncall["primary"]).model_validate(primary)}
    world.esc.configure(cfg.model_copy(update={"oncall": oncall}))
    await run(world, 10, firing())
    assert [w for _, p, w in world.seen() if p == "sms"] == ["+15550100002"]


async def test_flapping_sends_one_notice_to_the_first_step(world: World) -> None:
    """A flapping alert: one "flapping" notice to the first step's targets, no stream."""
    await world.esc.flapping(facts(), None)
    await settle(world)
    await run(world, 30, {})
    kinds = {(p, w) for _, p, w in world.log}
    assert ("pd", "trigger") in kinds
    assert [r.form["To"] for r in world.sms.accepted] == ["+15550100001"]
    assert "flap" in world.sms.accepted[0].form["Body"].lower()
    assert world.esc.progress == {}  # no escalation runs for a flapping alert


async def test_incident_record_follows_the_escalation(world: World) -> None:
    """The escalation opens INC-20260105-090000-ffff: fired, each notice, the 15m step,
    alice's ack and the resolution, with MTTA and duration on the record."""
    live = firing()
    await run(world, 16 * 60, live)
    await world.esc.acknowledge("f" * 20, "alice", "api")
    await run(world, 4 * 60, live)
    await world.esc.resolved("f" * 20)
    await settle(world)
    found = await world.store.incident("INC-20260105-090000-ffff")
    assert found is not None
    incident, events = found
    assert incident.acked_by == "alice via api"
    assert incident.time_to_ack == 16 * 60
    assert incident.duration == 20 * 60
    kinds = [e.kind for e in events]
    assert kinds[0] == "fired"
    assert "resolved" in kinds
    assert kinds.count("escalated") == 1
    assert "acknowledged" in kinds
    told = {e.detail["target"] for e in events if e.kind == "notified"}
    assert told == {"oncall:primary", "pagerduty", "slack-alerts", "eng-lead"}


async def test_report_notice_goes_through_the_outbox(world: World) -> None:
    """A scheduled report's summary reaches its targets like any notice, never as part
    of a storm digest, and never to PagerDuty."""
    notice = Notice(
        kind="report", at=world.clock.now().timestamp(), text="Uptime 99.9%\nIncidents: 0"
    )
    for _ in range(8):  # more than the storm threshold to one address
        await world.esc.announce("report:daily", notice, ["slack-alerts"])
        await world.clock.advance(1)
    await world.esc.announce("report:weekly", notice, ["email:ops@example.com", "pagerduty"])
    await run(world, 10, {})
    assert len(world.slack.accepted) == 8
    assert [r.json["personalizations"][0]["to"][0]["email"] for r in world.mail.accepted] == [
        "ops@example.com"
    ]
    assert world.pd.accepted == []


async def test_a_later_outage_resolves_only_to_its_own_people(world: World) -> None:
    """Outage 1 fires at 0m, reaches the lead at 15m and resolves at 17m (the lead hears
    it). Outage 2 of the same alert fires at 30m and resolves at 31m, before its 15m
    step: its resolution reaches step 0 only, as its escalation says it told."""
    fp = "f" * 20
    await run(world, 17 * 60, firing(since=world.clock.now().timestamp()))
    await world.esc.resolved(fp)
    await run(world, 13 * 60, {})
    assert ("sms", "+15550100003") in {(p, w) for _, p, w in world.log}  # told, then resolved
    mark = len(world.log)
    await run(world, 60, firing(since=world.clock.now().timestamp()))
    assert world.esc.progress[fp].notified == ("oncall:primary", "pagerduty", "slack-alerts")
    await world.esc.resolved(fp)
    await run(world, 5 * 60, {})
    second = sorted((t // 60, p, w) for t, p, w in world.log[mark:])
    assert not {w for _, _, w in second} & {"lead@example.com", "+15550100003"}
    assert [w for _, p, w in second if p == "sms"] == ["+15550100001", "+15550100001"]
    assert [w for _, p, w in second if p == "mail"] == ["alice@example.com"] * 2
    assert [w for _, p, w in second if p == "pd"] == ["trigger", "resolve"]


async def test_slack_resolution_edits_its_own_outages_message(world: World) -> None:
    """Each outage of the alert posts its own Slack message; each resolution edits the
    message of its own outage, so the second one does not stay red."""
    for _ in range(2):
        await run(world, 60, firing(since=world.clock.now().timestamp()))
        await world.esc.resolved("f" * 20)
        await run(world, 60, {})
    roots = [m for m in world.slack.messages.values() if "thread_ts" not in m]
    assert len(roots) == 2
    assert [u["ts"] for u in world.slack.updates] == [m["ts"] for m in roots]
    for root in roots:
        assert "RESOLVED" in root["blocks"][0]["text"]["text"]


async def test_no_step_goes_before_the_held_first_step(world: World) -> None:
    """Twenty alerts fire together to one Slack channel (a storm: some first pages are
    held for a digest), each with the lead one second later. No lead hears of an alert
    before its Slack page has gone; the held ones reach the lead right after the digest."""
    escalation = world.esc.config.escalation.model_copy(
        update={
            "high": [
                Step.model_validate({"after": "0s", "notify": ["slack-alerts"]}),
                Step.model_validate({"after": "1s", "notify": ["eng-lead"]}),
            ]
        }
    )
    world.esc.configure(world.esc.config.model_copy(update={"escalation": escalation}))
    now = world.clock.now().timestamp()
    live = {
        f.fingerprint: Live(facts=f, quiet=None, flapping=False, policy=None)
        for f in (facts("high", fp=f"{n:020d}", since=now) for n in range(20))
    }
    await run(world, 120, live, step=1)
    held = 0
    for fp in live:
        rows = await world.store.deliveries_for(fp)
        slack = [d for d in rows if d.channel == "slack-alerts"]
        lead = [d for d in rows if d.target == "eng-lead"]
        assert [d.state for d in slack] in (["sent"], ["merged"]), fp
        assert lead, fp
        first_page = slack[0].sent_at
        assert first_page is not None
        assert min(d.created_at for d in lead) >= first_page, fp
        held += slack[0].state == "merged"
    assert held  # the storm did hold some: the case above was exercised


async def test_an_outage_that_ended_unseen_is_resolved_before_the_next(world: World) -> None:
    """Outage 1 pages at 0m; its resolution is lost (a crash between the alert's state
    and its notices) and outage 2 fires at 20m: the lead (paged at 15m) and step 0 hear
    outage 1 resolved, then outage 2 starts its own escalation at step 0."""
    fp = "f" * 20
    await run(world, 20 * 60, firing(since=world.clock.now().timestamp()))
    mark = len(world.log)
    await run(world, 60, firing(since=world.clock.now().timestamp()))
    after = [(p, w) for _, p, w in world.log[mark:]]
    assert after.count(("pd", "resolve")) == 1
    assert after.count(("pd", "trigger")) == 1
    assert ("sms", "+15550100003") in after  # the lead hears outage 1 resolved
    assert world.esc.progress[fp].notified == ("oncall:primary", "pagerduty", "slack-alerts")
