"""The dispatcher on a fake clock: order, retries, rate limits, fall-through, dead letters,
storms and restarts. The provider seam is a scripted notifier; the store is real SQLite."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from sentinel.clock import FakeClock
from sentinel.config.models import Notifications, Storm
from sentinel.metrics import Metrics
from sentinel.notify.base import AlertFacts, DeliveryError, Notice, Sent
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.outbox import Delivery
from sentinel.probes.results import LatestResults
from sentinel.store.sqlite import SqliteStore
from tests.polling import settle


@dataclass
class Scripted:
    """A provider seam: records sends; raises the scripted errors first."""

    clock: FakeClock
    min_interval: float = 0.0
    digest: bool = True
    errors: list[DeliveryError] = field(default_factory=list)
    sent: list[tuple[float, Notice, str | None, dict[str, str] | None]] = field(
        default_factory=list
    )

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((self.clock.now().timestamp(), notice, address, thread))
        return Sent(ref={"id": str(len(self.sent))})

    async def close(self) -> None:
        return None


def notice(n: int, kind: str = "firing") -> Notice:
    facts = AlertFacts(
        fingerprint=f"fp{n}", rule="ServiceDown", check=f"api-{n}", severity="critical"
    )
    return Notice(kind=kind, at=0.0, alert=facts)  # type: ignore[arg-type]


def delivery(clock: FakeClock, n: int, channel: str = "a", address: str | None = "x") -> Delivery:
    now = clock.now().timestamp()
    return Delivery(
        dedup=f"d{n}:{channel}",
        fingerprint=f"fp{n}",
        target=channel,
        channel=channel,
        address=address,
        notice=notice(n),
        next_at=now,
        created_at=now,
    )


async def make(
    store: SqliteStore, clock: FakeClock, lanes: dict[str, Scripted], **opts: object
) -> tuple[Dispatcher, Metrics]:
    metrics = Metrics(CollectorRegistry(), LatestResults(), "test")
    options = Notifications.model_validate(opts)
    d = Dispatcher(store, clock, metrics, options, jitter=lambda: 0.5)
    d.configure({name: ("webhook", n) for name, n in lanes.items()}, options)
    await d.start()
    return d, metrics


async def run(d: Dispatcher, clock: FakeClock, seconds: float, step: float = 0.25) -> None:
    """Advance the fake clock in steps, letting the I/O of each step finish."""
    end = clock.monotonic() + seconds
    while clock.monotonic() < end - 1e-9:
        await settle(d)
        await clock.advance(min(step, end - clock.monotonic()))
        await settle(d)


async def put(d: Dispatcher, store: SqliteStore, clock: FakeClock, rows: list[Delivery]) -> None:
    now = clock.now().timestamp()
    d.submit(await store.commit_notifications([], d.hold_storms(rows), now))


async def test_sends_in_order_and_marks_sent(store: SqliteStore) -> None:
    """Rows go out in the order written, and are recorded as sent."""
    clock = FakeClock()
    lane = Scripted(clock)
    d, _ = await make(store, clock, {"a": lane})
    await put(d, store, clock, [delivery(clock, i) for i in range(3)])
    await run(d, clock, 0.1)
    assert [n.alert.check for _, n, _, _ in lane.sent if n.alert] == ["api-0", "api-1", "api-2"]
    assert await store.open_deliveries() == []
    assert d.open_count() == 0
    await d.stop()


async def test_rate_limit_allows_a_burst_then_paces_sends(store: SqliteStore) -> None:
    """A channel limited to one send a second takes a burst of 5 at once, then one a second."""
    clock = FakeClock()
    lane = Scripted(clock, min_interval=1.0)
    d, _ = await make(store, clock, {"a": lane})
    t0 = clock.now().timestamp()
    rows = [delivery(clock, i, address=f"x{i}") for i in range(7)]  # no storm: 7 addresses
    await put(d, store, clock, rows)
    await run(d, clock, 0.5)
    assert len(lane.sent) == 5
    await run(d, clock, 2.0)
    assert [round(t - t0, 2) for t, *_ in lane.sent] == [0.0] * 5 + [1.0, 2.0]
    await d.stop()


async def test_retry_after_is_honoured(store: SqliteStore) -> None:
    """A 429 with Retry-After 30 s: nothing before 30 s, sent at 30 s, once."""
    clock = FakeClock()
    lane = Scripted(
        clock, errors=[DeliveryError(retry=True, reason="rate_limited", retry_after=30)]
    )
    d, metrics = await make(store, clock, {"a": lane})
    t0 = clock.now().timestamp()
    await put(d, store, clock, [delivery(clock, 0)])
    await run(d, clock, 29)
    assert lane.sent == []
    await run(d, clock, 2)
    assert [round(t - t0) for t, *_ in lane.sent] == [30]
    retry = metrics.registry.get_sample_value(
        "sentinel_notifications_total", {"channel": "a", "type": "webhook", "outcome": "retry"}
    )
    assert retry == 1.0
    await d.stop()


async def test_backoff_grows_and_holds_the_queue_in_order(store: SqliteStore) -> None:
    """Without Retry-After the waits double (0.75, 1.5, 3 s with this jitter), and the
    notice behind the failing one waits its turn."""
    clock = FakeClock()
    errors = [DeliveryError(retry=True, reason="server_error") for _ in range(3)]
    lane = Scripted(clock, errors=errors)
    d, _ = await make(store, clock, {"a": lane}, retry_initial=1.0)
    t0 = clock.now().timestamp()
    await put(d, store, clock, [delivery(clock, 0), delivery(clock, 1)])
    await run(d, clock, 10)
    times = [round(t - t0, 2) for t, *_ in lane.sent]
    assert times == [5.25, 5.25]
    assert [n.alert.check for _, n, _, _ in lane.sent if n.alert] == ["api-0", "api-1"]
    await d.stop()


async def test_permanent_error_falls_through_to_the_next_method(store: SqliteStore) -> None:
    """An invalid number fails for good: the channel is marked broken and the contact's
    email gets the notice instead; nothing is retried."""
    clock = FakeClock()
    sms = Scripted(clock, errors=[DeliveryError(retry=False, reason="invalid_number")])
    email = Scripted(clock)
    d, metrics = await make(store, clock, {"sms": sms, "email": email})
    row = delivery(clock, 0, channel="sms", address="+15550100001").with_(
        target="alice", fallback=(("email", "alice@example.com"),)
    )
    await put(d, store, clock, [row])
    await run(d, clock, 1)
    assert sms.sent == []
    assert [(a, n.kind) for _, n, a, _ in email.sent] == [("alice@example.com", "firing")]
    assert d.broken == {"sms": "invalid_number"}
    broken = metrics.registry.get_sample_value(
        "sentinel_channel_broken", {"channel": "sms", "type": "webhook"}
    )
    assert broken == 1.0
    states = sorted(x.state for x in await store.deliveries_for("fp0"))
    assert states == ["failed", "sent"]
    await d.stop()


async def test_dead_letter_after_max_age(store: SqliteStore) -> None:
    """A provider down for longer than max_age: the notice becomes a dead letter, counted."""
    clock = FakeClock()
    lane = Scripted(clock, errors=[DeliveryError(retry=True, reason="network")] * 50)
    d, metrics = await make(store, clock, {"a": lane}, max_age=60, retry_max=20)
    await put(d, store, clock, [delivery(clock, 0)])
    await run(d, clock, 120)
    assert lane.sent == []
    assert [x.state for x in await store.deliveries_for("fp0")] == ["dead"]
    assert (
        metrics.registry.get_sample_value(
            "sentinel_notifications_dead_letters_total", {"channel": "a"}
        )
        == 1.0
    )
    await d.stop()


async def test_storm_sends_a_digest_not_hundreds(store: SqliteStore) -> None:
    """200 alerts to one address at once: the first 3 go at once, the other 197 in one
    digest once the spacing has passed."""
    clock = FakeClock()
    lane = Scripted(clock)
    storm = Storm(window=60, threshold=3, spacing=5).model_dump()
    d, _ = await make(store, clock, {"a": lane}, storm=storm)
    t0 = clock.now().timestamp()
    await put(d, store, clock, [delivery(clock, i) for i in range(200)])
    await run(d, clock, 1)
    assert len(lane.sent) == 3
    await run(d, clock, 60)
    assert len(lane.sent) == 4
    t, digest, address, _ = lane.sent[3]
    assert digest.kind == "digest"
    assert len(digest.alerts) == len(digest.entries) == 197
    assert address == "x"
    assert round(t - t0, 3) == 5.0
    assert await store.open_deliveries() == []
    await d.stop()


async def test_single_alert_is_never_delayed_by_grouping(store: SqliteStore) -> None:
    """One alert on a quiet channel goes out at once."""
    clock = FakeClock()
    lane = Scripted(clock)
    d, _ = await make(store, clock, {"a": lane})
    t0 = clock.now().timestamp()
    await put(d, store, clock, [delivery(clock, 0)])
    await run(d, clock, 0.01)
    assert [round(t - t0, 3) for t, *_ in lane.sent] == [0.0]
    await d.stop()


async def test_restart_sends_what_was_written_and_not_what_was_sent(store: SqliteStore) -> None:
    """Rows written before a crash are sent by the next process; sent ones are not resent."""
    clock = FakeClock()
    first = Scripted(clock)
    d, _ = await make(store, clock, {"a": first})
    await put(d, store, clock, [delivery(clock, 0)])
    await run(d, clock, 0.1)
    await d.stop()
    # "kill -9": rows written, no dispatcher running
    now = clock.now().timestamp()
    await store.commit_notifications([], [delivery(clock, 1), delivery(clock, 0)], now)
    second = Scripted(clock)
    d2, _ = await make(store, clock, {"a": second})
    await run(d2, clock, 0.1)
    assert [n.alert.check for _, n, _, _ in second.sent if n.alert] == ["api-1"]
    await d2.stop()


async def test_a_send_the_store_cannot_record_is_not_sent_again(store: SqliteStore) -> None:
    """The provider accepted, then the store failed to record it (a real SQLite error from
    a trigger): the dispatcher keeps trying to record it and never sends it twice."""
    clock = FakeClock()
    lane = Scripted(clock)
    d, _ = await make(store, clock, {"a": lane})
    await store.db.execute(
        "CREATE TRIGGER broken BEFORE UPDATE ON outbox BEGIN SELECT RAISE(ABORT, 'disk'); END"
    )
    await put(d, store, clock, [delivery(clock, 0)])
    await run(d, clock, 10.0)
    assert len(lane.sent) == 1
    assert [r.state for r in await store.open_deliveries()] == ["pending"]
    await store.db.execute("DROP TRIGGER broken")
    await run(d, clock, 40.0)
    assert len(lane.sent) == 1
    assert await store.open_deliveries() == []
    await d.stop()


async def test_thread_ref_of_first_message_reaches_follow_ups(store: SqliteStore) -> None:
    """The ack notice about an alert gets the first message's ref (Slack's thread)."""
    clock = FakeClock()
    lane = Scripted(clock)
    d, _ = await make(store, clock, {"a": lane})
    await put(d, store, clock, [delivery(clock, 0)])
    await run(d, clock, 0.1)
    ack = delivery(clock, 0).with_(dedup="ack", notice=notice(0, "acknowledged"))
    await put(d, store, clock, [ack])
    await run(d, clock, 0.1)
    assert [th for *_, th in lane.sent] == [None, {"id": "1"}]
    await d.stop()
