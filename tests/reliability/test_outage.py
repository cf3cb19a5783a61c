"""Provider outage on a fake clock: every provider fake fails (HTTP 500, a timeout, a
reset connection, or 429 with Retry-After) for ten minutes while notifications queue;
the dispatcher, with the real notifiers against the local fakes, delivers all of them
after recovery, in order per channel, retrying no more often than its backoff allows,
and the metrics and the status view (the dispatcher's lanes) show the backlog."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import TypeAdapter

from sentinel.clock import FakeClock
from sentinel.config.models import Channel, Notifications
from sentinel.metrics import Metrics
from sentinel.notify import NotifierDeps, Renderer, build_notifier
from sentinel.notify.base import AlertFacts, Notice
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.outbox import Delivery
from sentinel.notify.retry import retry_delay
from sentinel.probes.results import LatestResults
from sentinel.store.sqlite import SqliteStore
from tests.notify.fakes import (
    Fake,
    Outage,
    PagerDuty,
    Receiver,
    SendGrid,
    SlackApi,
    Twilio,
)
from tests.polling import settle

OUTAGE = 600.0  # seconds of fake-clock time
INITIAL, CAP = 1.0, 60.0
RETRY_AFTER = 30.0
TIMEOUT = 0.3  # real seconds per request in the "timeout" mode
JITTER = 0.5
ADDRESS = {"email": "ops@example.com", "sms": "+15550100001"}
CHANNELS = TypeAdapter(Channel)


@dataclass
class Rig:
    clock: FakeClock
    store: SqliteStore
    dispatcher: Dispatcher
    registry: CollectorRegistry
    fakes: dict[str, Fake]
    outages: dict[str, Outage]


def channel_specs(fakes: dict[str, Fake]) -> dict[str, dict[str, Any]]:
    return {
        "hook": {"type": "webhook", "url": fakes["hook"].url + "/hooks/t"},
        "sms": {
            "type": "sms",
            "account_sid": "AC" + "0" * 32,
            "auth_token": "tw-token",
            "from": "+15550109999",
            "api_url": fakes["sms"].url,
        },
        "email": {
            "type": "email",
            "api_key": "sg-key",
            "from": "sentinel@example.com",
            "api_url": fakes["email"].url,
        },
        "pagerduty": {
            "type": "pagerduty",
            "routing_key": "k" * 32,
            "api_url": fakes["pagerduty"].url,
        },
        "slack": {
            "type": "slack",
            "token": "xoxb-token",
            "channel": "#ops",
            "api_url": fakes["slack"].url + "/api/",
        },
    }


@contextlib.asynccontextmanager
async def rig(mode: str) -> AsyncIterator[Rig]:
    clock = FakeClock()
    store = SqliteStore(":memory:")
    await store.open()
    registry = CollectorRegistry()
    metrics = Metrics(registry, LatestResults(), "test")
    options = Notifications.model_validate(
        {"retry_initial": INITIAL, "retry_max": CAP, "timeout": TIMEOUT, "max_age": 86400}
    )
    dispatcher = Dispatcher(store, clock, metrics, options, jitter=lambda: JITTER)
    async with (
        Receiver() as hook,
        Twilio("AC" + "0" * 32, "tw-token") as sms,
        SendGrid("sg-key") as email,
        PagerDuty() as pagerduty,
        SlackApi("xoxb-token") as slack,
        aiohttp.ClientSession() as session,
    ):
        fakes: dict[str, Fake] = {
            "hook": hook,
            "sms": sms,
            "email": email,
            "pagerduty": pagerduty,
            "slack": slack,
        }
        outages = {}
        for name, fake in fakes.items():
            outages[name] = fake.faults = Outage(
                mode, retry_after=RETRY_AFTER, delay=5.0, now=lambda: clock.now().timestamp()
            )
        renderer = Renderer(None)
        notifiers = {}
        for name, spec in channel_specs(fakes).items():
            channel = CHANNELS.validate_python(spec)
            notifier = build_notifier(
                name,
                channel,
                NotifierDeps(session, renderer, lambda: clock.now().timestamp(), TIMEOUT),
            )
            notifiers[name] = (channel.type, notifier)
        dispatcher.configure(notifiers, options)
        await dispatcher.start()
        try:
            yield Rig(clock, store, dispatcher, registry, fakes, outages)
        finally:
            await dispatcher.stop()
            await store.close()


async def run(r: Rig, seconds: float, step: float = 1.0) -> None:
    end = r.clock.monotonic() + seconds
    while r.clock.monotonic() < end - 1e-9:
        await settle(r.dispatcher)
        await r.clock.advance(min(step, end - r.clock.monotonic()))
    await settle(r.dispatcher)


def notice(n: int, now: float) -> Notice:
    facts = AlertFacts(
        fingerprint=f"fp{n:02d}", rule="ServiceDown", check=f"api-{n:02d}", severity="critical"
    )
    return Notice(kind="firing", at=now, alert=facts)


async def queue(r: Rig, numbers: range) -> None:
    now = r.clock.now().timestamp()
    rows = [
        Delivery(
            dedup=f"n{n}:{channel}",
            fingerprint=f"fp{n:02d}",
            target=channel,
            channel=channel,
            address=ADDRESS.get(channel),
            notice=notice(n, now),
            next_at=now,
            created_at=now,
        )
        for n in numbers
        for channel in r.fakes
    ]
    r.dispatcher.submit(await r.store.commit_notifications([], rows, now))


def delivered(fake: Fake) -> list[str]:
    """The checks named by what a fake accepted, in the order it accepted them."""
    out = []
    for rec in fake.accepted:
        if rec.form:
            out.append(rec.form["Body"].split()[2].rstrip(":"))
        elif "personalizations" in rec.json:
            out.append(str(rec.json["subject"]).split()[-1])
        elif "routing_key" in rec.json:
            out.append(str(rec.json["dedup_key"]))
        elif "channel" in rec.json:
            out.append(next(w for w in str(rec.json["text"]).split() if w.startswith("api-")))
        else:
            out.append(rec.json["alert"]["check"])
    return out


# Channels whose provider names a time to come back (PROVIDERS.md): Retry-After or
# SendGrid's X-RateLimit-Reset; Twilio and PagerDuty send none, our backoff applies.
HONOURS_RATE_LIMIT = ("hook", "slack", "email")


def schedule_attempts(mode: str, channel: str, seconds: float) -> int:
    """Attempts of one delivery in ``seconds`` of a failing provider, by the backoff."""
    t, n = 0.0, 0
    while t < seconds:
        n += 1
        ra = RETRY_AFTER if mode == "429" and channel in HONOURS_RATE_LIMIT else None
        t += retry_delay(n, ra, INITIAL, CAP, JITTER)
    return n


def metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] != name:
            continue
        found = (
            ",".join(sorted(series.partition("{")[2].rstrip("}").split(",")))
            if "{" in series
            else ""
        )
        if all(part in found.split(",") for part in want.split(",") if part):
            total += float(value)
    return total


@pytest.mark.parametrize("mode", ["500", "timeout", "reset", "429"])
async def test_ten_minute_outage_loses_nothing_and_keeps_order(mode: str) -> None:
    async with rig(mode) as r:
        await queue(r, range(0, 3))
        await run(r, OUTAGE / 2)
        await queue(r, range(3, 5))  # more alerts during the outage
        await run(r, OUTAGE / 2)

        # the backlog is visible: per channel (the status view's "pending") and in total
        lanes = r.dispatcher.lanes()
        assert {name: len(items) for name, items in lanes.items()} == dict.fromkeys(r.fakes, 5)
        text = generate_latest(r.registry).decode()
        assert metric(text, "sentinel_outbox_pending") == 5 * len(r.fakes)
        for name in r.fakes:
            assert metric(text, "sentinel_notifications_total", channel=name, outcome="retry") > 0
            assert r.fakes[name].accepted == [], name

        # retries bounded by the backoff: the head of each lane only, on its schedule
        for name, outage in r.outages.items():
            bound = schedule_attempts(mode, name, OUTAGE)
            assert bound - 2 <= outage.failed <= bound + 1, (name, outage.failed, bound)

        for outage in r.outages.values():
            outage.mode = None
        wait = RETRY_AFTER if mode == "429" else CAP
        await run(r, wait + 10)
        for name, fake in r.fakes.items():
            got = delivered(fake)
            if name == "pagerduty":
                assert got == [f"fp{n:02d}" for n in range(5)], (name, got)
            else:
                assert got == [f"api-{n:02d}" for n in range(5)], (name, got)
        assert await r.store.open_deliveries() == []
        text = generate_latest(r.registry).decode()
        assert metric(text, "sentinel_outbox_pending") == 0
        assert metric(text, "sentinel_notifications_dead_letters_total") == 0


async def test_status_marks_a_channel_down_through_a_long_outage() -> None:
    """Retryable failures only: not broken in the first 5 minutes (a blip), broken after
    them (status and metric), and healthy again with the first send after recovery."""
    async with rig("500") as r:
        await queue(r, range(0, 1))
        await run(r, 240)
        assert "hook" not in r.dispatcher.broken
        await run(r, OUTAGE - 240)
        text = generate_latest(r.registry).decode()
        assert r.dispatcher.broken.get("hook", "").startswith("failing since "), r.dispatcher.broken
        assert metric(text, "sentinel_channel_broken", channel="hook") == 1
        for outage in r.outages.values():
            outage.mode = None
        await run(r, CAP + 10)
        assert r.dispatcher.broken == {}
        text = generate_latest(r.registry).decode()
        assert metric(text, "sentinel_channel_broken", channel="hook") == 0
