"""Storms, as timelines on a fake clock (docs/notifications.md, "Storms").

A storm is many *distinct* alerts paged to one address in ``window``; outside one
nothing waits, inside one an address's notices go as digests, each at most
``spacing`` after the oldest notice it holds. The first test drives one check
through the rule engine, the escalator and the dispatcher (``sentinel simulate``);
the storm itself goes through the escalator, the dispatcher and the real webhook
notifier to a local receiver; the rest through the dispatcher with a scripted
provider and a real SQLite store.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from sentinel.clock import FakeClock
from sentinel.config.models import Config, Notifications
from sentinel.escalation.escalator import Escalator, Live
from sentinel.metrics import Metrics
from sentinel.notify import build_notifier
from sentinel.notify.base import AlertFacts, DeliveryError, Notice
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.outbox import Delivery
from sentinel.notify.render import Renderer
from sentinel.notify.storm import StormGate
from sentinel.probes.results import LatestResults
from sentinel.simulate.replay import simulate
from sentinel.simulate.scenario import parse_scenario
from sentinel.store.sqlite import SqliteStore
from tests.notify.fakes import Receiver
from tests.notify.test_dispatcher import Scripted, delivery, make, put, run

INTERVAL, FOR = 1.0, 2.0
BAR = INTERVAL + FOR + 1.0  # every outage paged within this of its start
SPACING = 5.0
STAMP = re.compile(r"^\+(\d\d):(\d\d):(\d\d)  (.*)$")

ONE_CHECK = """
checks:
  - {name: api, type: http, url: "http://127.0.0.1:9/health", interval: 1s, timeout: 500ms}
rules:
  - {name: ServiceDown, match: {type: http}, expr: up == 0, for: 2s, severity: critical}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
escalation:
  critical: [{after: 0s, notify: [hook]}]
"""


def timeline(lines: list[str]) -> list[tuple[int, str]]:
    out = []
    for line in lines:
        m = STAMP.match(line)
        assert m, line
        h, mi, s, text = m.groups()
        out.append((int(h) * 3600 + int(mi) * 60 + int(s), text))
    return out


async def test_a_check_down_5s_of_every_10s_is_paged_for_every_outage() -> None:
    """One check (interval 1s, `for: 2s`, default storm settings) down 5 s of every 10 s
    for 2 minutes: below the flap detector's threshold (about 4 changes in 21 results),
    and one alert is never a storm, so every outage is paged at +2 s and resolved at +5 s,
    12 times over, and nothing is ever held for a digest:

        +00:00:00  api  check fails
        +00:00:02  -> hook  firing ServiceDown api
        +00:00:05  api  check recovers
        +00:00:05  -> hook  resolved ServiceDown api
        +00:00:10  api  check fails
        +00:00:12  -> hook  firing ServiceDown api        (and so on, every 10 s)
    """
    config = Config.model_validate(yaml.safe_load(ONE_CHECK))
    events = "".join(
        f"  - {{at: {10 * k}s, check: api, fail: connection refused}}\n"
        f"  - {{at: {10 * k + 5}s, check: api, recover: true}}\n"
        for k in range(12)
    )
    scenario = parse_scenario(f"until: 2m\nevents:\n{events}")
    seen = timeline(await simulate(config, scenario))

    pages = [(t, text) for t, text in seen if text.startswith("->")]
    assert pages == [
        page
        for k in range(12)
        for page in (
            (10 * k + 2, "-> hook  firing ServiceDown api"),
            (10 * k + 5, "-> hook  resolved ServiceDown api"),
        )
    ]
    outages = [t for t, text in seen if text == "api  check fails: connection refused"]
    fired = [t for t, text in pages if "firing" in text]
    assert len(outages) == len(fired) == 12
    assert all(0 <= page - start <= BAR for start, page in zip(outages, fired, strict=True))
    assert not [text for _, text in seen if "FLAPPING" in text or "digest" in text]


# -- a storm through the escalator and the real webhook notifier ---------------------


@dataclass
class Hooked:
    clock: FakeClock
    esc: Escalator
    dispatcher: Dispatcher
    store: SqliteStore
    receiver: Receiver
    got: list[tuple[float, dict[str, Any]]]  # (fake second it arrived, webhook body)
    t0: float

    async def step(self, seconds: float) -> None:
        await self.settle()
        await self.clock.advance(seconds)
        await self.settle()

    async def settle(self) -> None:
        """Wait (real time, bounded) for due sends' HTTP and SQLite I/O, then log them."""
        for _ in range(3000):
            if self.dispatcher.idle():
                break
            await asyncio.sleep(0.001)
        else:
            raise AssertionError("dispatcher did not settle")
        at = self.clock.now().timestamp() - self.t0
        self.got += [(at, r.json) for r in self.receiver.accepted[len(self.got) :]]


@pytest.fixture
async def hooked(store: SqliteStore) -> AsyncIterator[Hooked]:
    clock = FakeClock()
    async with Receiver() as receiver, aiohttp.ClientSession() as session:
        cfg = Config.model_validate(
            {
                "channels": {"hook": {"type": "webhook", "url": receiver.url + "/hooks/t"}},
                "escalation": {"critical": [{"after": "0s", "notify": ["hook"]}]},
                "notifications": {"storm": {"window": "1m", "threshold": 5, "spacing": "5s"}},
            }
        )
        metrics = Metrics(CollectorRegistry(), LatestResults(), "test")
        dispatcher = Dispatcher(store, clock, metrics, cfg.notifications, jitter=lambda: 0.5)

        def now() -> float:
            return clock.now().timestamp()

        hook = build_notifier("hook", cfg.channels["hook"], NotifierDeps(session, Renderer(), now))
        dispatcher.configure({"hook": ("webhook", hook)}, cfg.notifications)
        await dispatcher.start()
        esc = Escalator(cfg, store, dispatcher, clock, metrics)
        yield Hooked(clock, esc, dispatcher, store, receiver, [], now())
        await dispatcher.stop()


def facts(i: int) -> AlertFacts:
    return AlertFacts(
        fingerprint=f"fp{i:02d}", rule="ServiceDown", check=f"api-{i:02d}", severity="critical"
    )


async def test_fifty_alerts_at_once_arrive_as_digests_within_the_spacing(hooked: Hooked) -> None:
    """50 alerts fire one every 100 ms, then resolve one every 100 ms, all paging one
    webhook (threshold 5, spacing 5 s):

        t=0.0-0.4   alerts 0-4 fire   -> each sent at once, on its own
        t=0.5       alert 5 fires     -> a storm: held for the digest due at t=5.5
        t=5.5       digest: alerts 5-49 fired (all the webhook holds)
        t=5.0-9.9   all 50 resolve    -> held; digests at 10.5 and 15.5 at the latest

    No notice waits longer than the spacing, two digests are never closer than it, and
    every alert is told fired once and resolved once, in a single or in a digest."""
    live: dict[str, Live] = {}
    for i in range(50):
        live[facts(i).fingerprint] = Live(facts(i), quiet=None, flapping=False, policy=None)
        await hooked.esc.tick(live)
        await hooked.step(0.1)
    for i in range(50):
        del live[facts(i).fingerprint]
        await hooked.esc.resolved(facts(i).fingerprint)
        await hooked.esc.tick(live)
        await hooked.step(0.1)
    for _ in range(100):
        await hooked.step(0.1)

    singles = [(t, body) for t, body in hooked.got if body["kind"] != "digest"]
    digests = [(t, body) for t, body in hooked.got if body["kind"] == "digest"]
    assert [(round(t, 1), b["kind"], b["alert"]["fingerprint"]) for t, b in singles] == [
        (round(0.1 * i, 1), "firing", f"fp{i:02d}") for i in range(5)
    ]
    told = Counter(
        (e["kind"], e["alert"]["fingerprint"]) for _, body in digests for e in body["entries"]
    )
    told.update((b["kind"], b["alert"]["fingerprint"]) for _, b in singles)
    every = {(kind, f"fp{i:02d}") for kind in ("firing", "resolved") for i in range(50)}
    assert set(told) == every
    assert set(told.values()) == {1}
    for arrived, body in digests:
        oldest = min(e["at"] for e in body["entries"])
        assert body["at"] - oldest <= SPACING + 1e-6  # folded within the spacing
        assert arrived - (oldest - hooked.t0) <= SPACING + 0.1 + 1e-6  # and sent (one step)
        assert body["message"].startswith("[DIGEST]")
    sent_at = [body["at"] for _, body in digests]
    assert all(b - a >= SPACING - 1e-6 for a, b in pairwise(sent_at))
    assert 2 <= len(digests) <= 4
    assert await hooked.store.open_deliveries() == []


# -- what opens a storm, how long a digest waits, and a restart ------------------------


def about(n: int, kind: str, clock: FakeClock) -> Delivery:
    """Row ``n`` (alert fp<n>) as a notice of ``kind``, to address x of channel a."""
    row = delivery(clock, n)
    assert row.notice.alert is not None
    notice = Notice(kind=kind, at=row.created_at, alert=row.notice.alert)  # type: ignore[arg-type]
    return row.with_(dedup=f"{row.dedup}:{kind}:{row.created_at}", notice=notice)


def storm(**opts: Any) -> dict[str, Any]:
    return {"storm": {"window": 60, "threshold": 2, "spacing": SPACING, **opts}}


def sent(lane: Scripted, t0: float) -> list[tuple[float, str, list[str]]]:
    """(second, kind, the alerts it is about) of each send."""
    out: list[tuple[float, str, list[str]]] = []
    for at, notice, _, _ in lane.sent:
        about = [e.alert.fingerprint for e in notice.entries] or [
            notice.alert.fingerprint if notice.alert else ""
        ]
        out.append((round(at - t0, 3), notice.kind, about))
    return out


async def test_resolutions_and_acks_never_open_a_storm(store: SqliteStore) -> None:
    """Threshold 2: two alerts fire, are acknowledged and resolve, again and again: eight
    notices a second to one address, all sent at once. A third distinct alert is a storm.

        t=0    fp0, fp1 fire           -> sent at once
        t=1-9  acks and resolutions    -> sent at once, every one
        t=10   fp2 fires (3 alerts)    -> held, sent at t=15 (the spacing)
    """
    clock = FakeClock()
    lane = Scripted(clock)
    d, _ = await make(store, clock, {"a": lane}, **storm())
    t0 = clock.now().timestamp()
    await put(d, store, clock, [about(0, "firing", clock), about(1, "firing", clock)])
    for _ in range(9):
        await run(d, clock, 1)
        rows = [about(n, k, clock) for n in (0, 1) for k in ("acknowledged", "resolved")]
        await put(d, store, clock, rows)
    await run(d, clock, 1)
    assert all(at == round(at) for at, _, _ in sent(lane, t0))  # none waited
    assert len(lane.sent) == 2 + 9 * 4
    await put(d, store, clock, [about(2, "firing", clock)])
    await run(d, clock, 6)
    assert sent(lane, t0)[-1] == (15.0, "firing", ["fp2"])  # held for the spacing: a storm
    await d.stop()


async def test_one_alert_down_and_up_is_never_a_storm() -> None:
    """However often one alert fires and resolves, it counts once: nothing is held."""
    gate = StormGate(window=60, threshold=1, spacing=SPACING)
    for t in range(100):
        assert gate.admit("hook", None, "fp0", "firing" if t % 2 else "resolved", t) is None
    assert gate.admit("hook", None, "fp1", "firing", 100) == 100 + SPACING


async def test_in_a_storm_no_notice_waits_longer_than_the_spacing(store: SqliteStore) -> None:
    """A steady stream in a storm (a new alert every 0.3 s for 30 s, threshold 2): every
    notice is sent within the spacing of being written, digests at least the spacing apart."""
    clock = FakeClock()
    lane = Scripted(clock)
    d, _ = await make(store, clock, {"a": lane}, **storm())
    t0 = clock.now().timestamp()
    written: dict[str, float] = {}
    for n in range(100):
        written[f"fp{n}"] = clock.now().timestamp() - t0
        await put(d, store, clock, [about(n, "firing", clock)])
        await run(d, clock, 0.3, step=0.1)
    await run(d, clock, 10, step=0.1)
    sends = sent(lane, t0)
    waits = [at - written[fp] for at, _, about in sends for fp in about]
    assert sorted(fp for _, _, about in sends for fp in about) == sorted(written)
    assert max(waits) <= SPACING + 1e-3
    digests = [at for at, kind, _ in sends if kind == "digest"]
    assert len(digests) >= 5
    assert all(b - a >= SPACING - 1e-3 for a, b in pairwise(digests))
    await d.stop()


async def test_restart_sends_held_rows_and_keeps_the_storm(store: SqliteStore) -> None:
    """Six alerts at t=0 (threshold 2): two sent, four held. The process dies at t=1; the
    next one starts at t=2, rebuilds the storm from the held rows (a seventh alert at t=2
    is held too) and sends one digest of all five at t=5, the spacing after the oldest."""
    clock = FakeClock()
    first = Scripted(clock)
    d, _ = await make(store, clock, {"a": first}, **storm())
    t0 = clock.now().timestamp()
    await put(d, store, clock, [about(n, "firing", clock) for n in range(6)])
    await run(d, clock, 1)
    await d.stop()  # "kill -9": the held rows are in the store, nothing in flight
    assert [s.state for s in await store.open_deliveries()] == ["held"] * 4
    await clock.advance(1)
    second = Scripted(clock)
    d, _ = await make(store, clock, {"a": second}, **storm())
    await put(d, store, clock, [about(6, "firing", clock)])
    await run(d, clock, 4)
    assert sent(first, t0) == [(0.0, "firing", ["fp0"]), (0.0, "firing", ["fp1"])]
    assert sent(second, t0) == [(5.0, "digest", ["fp2", "fp3", "fp4", "fp5", "fp6"])]
    assert await store.open_deliveries() == []
    await d.stop()


def test_spacing_longer_than_the_window_is_refused() -> None:
    """Spacing is seconds, like Alertmanager's group_interval; longer than window is a typo."""
    with pytest.raises(ValidationError, match=r"spacing \(120s\) must not be longer than window"):
        Notifications.model_validate({"storm": {"window": "1m", "spacing": "2m"}})
    assert Notifications().storm.spacing == SPACING


async def test_a_digest_is_no_alerts_thread(store: SqliteStore) -> None:
    """An alert first told inside a digest has no thread: its acknowledgement after the
    storm is not posted under (nor edits) the digest's message, nor after a restart.

        t=0    fp0 fires (threshold 1)     -> sent, its own thread
        t=0    fp1, fp2 fire               -> held: digest at t=5
        t=70   fp1 acknowledged            -> at once, no thread (then fp1's own)
    """
    clock = FakeClock()
    lane = Scripted(clock)
    d, _ = await make(store, clock, {"a": lane}, **storm(threshold=1))
    await put(d, store, clock, [about(n, "firing", clock) for n in range(3)])
    await run(d, clock, 70)
    await put(d, store, clock, [about(1, "acknowledged", clock)])
    await run(d, clock, 1)
    assert [(n.kind, thread) for _, n, _, thread in lane.sent] == [
        ("firing", None),
        ("digest", None),
        ("acknowledged", None),
    ]
    await d.stop()
    refs = await store.thread_refs()  # what the next process threads under
    assert refs == {("fp0", "a", "x"): {"id": "1"}, ("fp1", "a", "x"): {"id": "3"}}


async def test_a_digest_never_overtakes_a_retried_page(store: SqliteStore) -> None:
    """fp0's page meets a 429 (Retry-After 20 s); a storm begins behind it. The digest
    holding fp0's resolution waits for fp0's page, as every notice behind a retry does.

        t=0    fp0 fires (threshold 1)       -> 429, retried at t=20
        t=1    fp1, fp2 fire, fp0 resolves   -> held, due t=6: waits behind fp0
        t=20   fp0's page goes, then the digest
    """
    clock = FakeClock()
    lane = Scripted(
        clock, errors=[DeliveryError(retry=True, reason="rate_limited", retry_after=20)]
    )
    d, _ = await make(store, clock, {"a": lane}, **storm(threshold=1))
    t0 = clock.now().timestamp()
    await put(d, store, clock, [about(0, "firing", clock)])
    await run(d, clock, 1)
    rows = [about(1, "firing", clock), about(2, "firing", clock), about(0, "resolved", clock)]
    await put(d, store, clock, rows)
    await run(d, clock, 25)
    assert sent(lane, t0) == [(20.0, "firing", ["fp0"]), (20.0, "digest", ["fp1", "fp2", "fp0"])]
    await d.stop()
