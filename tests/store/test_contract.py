"""The store contract: every test runs on SQLite and on the real PostgreSQL (a fresh
schema in this run's own database, see tests/store/conftest.py).

One class per aggregate protocol of sentinel/store/protocols.py, so a new backend can
be brought up and tested one aggregate at a time (``-k TestOutbox``); each test asks
for the narrowest protocol it uses, ``Store`` only where it crosses aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentinel.cluster.quorum import View
from sentinel.escalation.incidents import Incident, IncidentEvent
from sentinel.notify.base import AlertFacts, Notice
from sentinel.notify.outbox import Delivery, State
from sentinel.probes.heartbeats import Beat
from sentinel.probes.results import Result, Sample
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance
from sentinel.rules.state import AlertState
from sentinel.store import MOVED_KEY, StoreError, open_store
from sentinel.store.protocols import (
    AlertStore,
    HeartbeatStore,
    HistoryStore,
    HoldStore,
    IncidentStore,
    KeyStore,
    OutboxStore,
    SilenceStore,
    SloStore,
    Store,
    ViewStore,
)
from tests.store.test_sqlite import T0, result


def delivery(key: str, state: State = "pending", fp: str = "fp", at: float = 1000.0) -> Delivery:
    notice = Notice(kind="test", at=at)
    return Delivery(key, fp, "t", "c", None, notice, at, at, state=state)


class TestLifecycle:
    """StoreLifecycle: open, close, ping; a reopened or moved store."""

    async def test_reopen_keeps_rows_and_migrates_nothing(self, store_url: str) -> None:
        """A second open of the same store finds its rows; nothing runs twice."""
        first = open_store(store_url)
        await first.open()
        await first.add_results([result("a", 0)])
        await first.close()
        again = open_store(store_url)
        await again.open()
        try:
            assert await again.recent_results("a") == [result("a", 0)]
        finally:
            await again.close()

    async def test_ping_is_false_when_not_open_or_closed(self, store_url: str) -> None:
        """ping never raises: True while open, False before and after."""
        s = open_store(store_url)
        assert await s.ping() is False
        await s.open()
        assert await s.ping() is True
        await s.close()
        assert await s.ping() is False

    async def test_a_moved_store_is_refused_unless_forced(self, store_url: str) -> None:
        """After `store copy` marks it, the store will not open, naming where it went."""
        s = open_store(store_url)
        await s.open()
        await s.set_key_once(MOVED_KEY, "postgresql://db:5432/sentinel")
        await s.close()
        with pytest.raises(StoreError, match="moved to postgresql://db:5432/sentinel") as info:
            await open_store(store_url).open()
        assert not info.value.transient
        forced = open_store(store_url, force=True)
        await forced.open()
        await forced.close()


class TestHistory:
    """HistoryStore: check results in, newest first out, pruned by age."""

    async def test_round_trip_keeps_samples_labels_and_time(self, store: HistoryStore) -> None:
        """What goes in comes back equal: labelled samples, errors, aware UTC times."""
        written = [result("cache", 0), result("cache", 1, ok=False)]
        await store.add_results(written)
        back = await store.recent_results("cache")
        assert back == list(reversed(written))
        assert back[0].started_at.tzinfo is not None
        assert back[0].started_at.utcoffset() == timedelta(0)
        assert back[1].samples[2].labels == (("key", "image-queue"),)

    async def test_round_trip_is_exact_for_any_sample_shape(self, store: HistoryStore) -> None:
        """Samples that are not the runner's up/duration prefix (a scraped up{job}, odd order, none) read back unchanged."""
        start = datetime(2026, 5, 1, 8, 0, 0, 123457, tzinfo=UTC)
        shapes: list[tuple[Sample, ...]] = [
            (),
            (Sample("up", 1.0),),
            (Sample("up", 1.0, (("job", "api"),)), Sample("duration_seconds", 0.5)),
            (Sample("duration_seconds", 0.5), Sample("up", 1.0)),
            (Sample("up", 0.0), Sample("duration_seconds", 0.5)),  # up disagrees with ok
            (Sample("up", 1.0), Sample("duration_seconds", 0.25)),  # duration disagrees
            (Sample("x", -1.5e300, (("a", "1"), ("b", 'quote " and ]'))),),
        ]
        written = [
            Result("odd", "prometheus", True, start + timedelta(seconds=i), 0.5, None, samples)
            for i, samples in enumerate(shapes)
        ]
        await store.add_results(written)
        assert await store.recent_results("odd") == list(reversed(written))

    async def test_recent_is_newest_first_and_limited(self, store: HistoryStore) -> None:
        """recent_results returns the newest N of one check only."""
        await store.add_results([result("a", m) for m in range(10)] + [result("b", 99)])
        back = await store.recent_results("a", limit=3)
        assert [r.started_at for r in back] == [T0 + timedelta(minutes=m) for m in (9, 8, 7)]
        assert await store.recent_results("nobody") == []

    async def test_latest_is_the_newest_result_of_each_named_check(self, store: Store) -> None:
        """latest_results reads the newest row of every check asked for (one read), none
        for a check without results, nothing for no names."""
        written = [result("a", m, ok=m != 9) for m in (3, 9, 1)] + [result("b", 5)]
        await store.add_results([*written, result("c", 7)])
        back = await store.latest_results(["a", "b", "nobody", "a"])
        assert sorted(back, key=lambda r: r.check) == [written[1], written[3]]
        assert await store.latest_results([]) == []

    async def test_adding_nothing_is_a_no_op(self, store: HistoryStore) -> None:
        """An empty batch writes nothing and does not fail."""
        await store.add_results([])
        assert await store.recent_results("a") == []

    async def test_prune_removes_only_older_rows(self, store: HistoryStore) -> None:
        """prune_results deletes rows before the cutoff and says how many."""
        await store.add_results([result("a", m) for m in range(5)])
        removed = await store.prune_results(T0 + timedelta(minutes=3))
        assert removed == 3
        assert [r.started_at for r in await store.recent_results("a")] == [
            T0 + timedelta(minutes=4),
            T0 + timedelta(minutes=3),
        ]
        assert await store.prune_results(T0) == 0

    async def test_pruning_also_drops_old_rollups_and_finished_outbox_rows(
        self, store: Store
    ) -> None:
        """History pruning takes daily uptime rows and delivered notices with it, and keeps
        notices still waiting to be sent."""
        if True:
            await store.add_results([result("a", 0), result("a", 3 * 24 * 60)])
            old = T0.timestamp()

            def row(key: str, state: State) -> Delivery:
                notice = Notice(kind="test", at=old)
                return Delivery(key, "", "t", "c", None, notice, old, old, state=state)

            rows = [row("sent", "sent"), row("open", "pending"), row("held", "held")]
            rows.append(row("waiting", "waiting"))  # a text waiting on a call's outcome
            await store.commit_notifications([], rows, old)
            await store.prune_results(T0 + timedelta(days=1))
            days = await store.uptime_days(0)
            assert [d for d, *_ in days["a"]] == [
                int((T0 + timedelta(days=3)).timestamp() // 86400)
            ]
            assert [d.dedup for d in await store.open_deliveries()] == ["open", "held", "waiting"]
            assert await store.notification_counts(0, old + 1) == {
                ("c", "pending"): 1,
                ("c", "held"): 1,
                ("c", "waiting"): 1,
            }


class TestUptime:
    """UptimeStore: the daily rollup the results feed (and durations beside it)."""

    async def test_uptime_days_and_durations_read_the_rollup(self, store: Store) -> None:
        """Daily uptime is summed per check and day; durations come from the history."""
        await store.add_results(
            [result("a", 0), result("a", 1, ok=False), result("b", 0), result("a", 24 * 60)]
        )
        day = int(T0.timestamp() // 86400)
        days = await store.uptime_days(day)
        assert [(d, ok, n) for d, ok, n, _ in days["a"]] == [(day, 1, 2), (day + 1, 1, 1)]
        assert days["a"][0][3] == pytest.approx(0.024)
        assert list(await store.uptime_days(day, ["b", "b"])) == ["b"]
        assert await store.uptime_days(day, []) == {}
        start = T0.timestamp()
        assert await store.durations("a", start, start + 120) == [0.012, 0.012]


class TestHeartbeats:
    """HeartbeatStore."""

    async def test_heartbeats_round_trip(self, store: HeartbeatStore) -> None:
        """The last pings of a heartbeat are kept and replaced, times exact and aware."""
        first = Beat(success=T0, start=None, fail=None, last_duration=None)
        await store.save_heartbeat("backup", first)
        later = Beat(
            success=T0 + timedelta(days=1),
            start=T0,
            fail=T0 + timedelta(hours=2),
            last_duration=12.5,
        )
        await store.save_heartbeat("backup", later)
        await store.save_heartbeat("cron", first)
        assert await store.load_heartbeats() == {"backup": later, "cron": first}


class TestAlerts:
    """AlertStore."""

    async def test_alerts_round_trip(self, store: AlertStore) -> None:
        """Pending and firing alerts are kept whole, replaced on change and deleted on resolution."""
        pending = Instance(
            "QueueBacklog",
            "cache",
            (("key", "q"),),
            AlertState("pending", 10.0, None, 10.0),
            1001.0,
        )
        await store.save_alert(pending)
        firing = Instance(
            "QueueBacklog", "cache", (("key", "q"),), AlertState("firing", 10.0, 70.0, 70.0), 1500.0
        )
        await store.save_alert(firing)
        other = Instance("ServiceDown", "api", (), AlertState("pending", 5.0, None, 5.0), 0.0)
        await store.save_alert(other)
        assert sorted(await store.load_alerts(), key=lambda i: i.rule) == [firing, other]
        await store.delete_alert(other.fingerprint)
        assert await store.load_alerts() == [firing]

    async def test_a_batch_of_alerts_is_saved_and_deleted_at_once(self, store: AlertStore) -> None:
        """save_alerts keeps many and drops others in one call (a group of inbound alerts)."""
        many = [
            Instance("Inbound", "prom", (("n", str(n)),), AlertState("firing", 1.0, 2.0, 2.0))
            for n in range(300)
        ]
        await store.save_alerts(many, [])
        assert len(await store.load_alerts()) == 300
        await store.save_alerts(many[:1], [a.fingerprint for a in many[1:]])
        assert await store.load_alerts() == many[:1]
        await store.save_alerts([], [])
        assert await store.load_alerts() == many[:1]

    async def test_inbound_alerts_are_shared_with_their_episode_ends_and_last_words(
        self, store: AlertStore
    ) -> None:
        """Several replicas (docs/sources.md): the alerts of some fingerprints, the end of
        each one's last episode and the sources' last words, the later time kept."""
        many = [
            Instance("Inbound", "prom", (("n", str(n)),), AlertState("firing", 1.0, 2.0, 2.0))
            for n in range(600)  # over one SQLite IN list
        ]
        await store.save_external(many, [], {}, {"prom": 50.0})
        await store.save_external([], [many[0].fingerprint], {many[0].fingerprint: 40.0}, {})
        await store.save_external([], [], {many[0].fingerprint: 30.0}, {"prom": 45.0})
        fps = [a.fingerprint for a in many] + ["unknown"]
        stored, ends, spoke = await store.load_external(fps, ["prom", "grafana"])
        assert stored == {a.fingerprint: a for a in many[1:]}
        assert ends == {many[0].fingerprint: 40.0}
        assert spoke == {"prom": 50.0}
        assert len(await store.load_alerts()) == 599
        assert await store.load_external([], []) == ({}, {}, {})
        assert await store.prune_external(40.0) == 0
        assert await store.prune_external(40.5) == 1
        assert (await store.load_external(fps, ["prom"]))[1:] == ({}, {"prom": 50.0})


class TestSilences:
    """SilenceStore."""

    async def test_silences_round_trip(self, store: SilenceStore) -> None:
        """Silences are replaced by id and read back oldest first."""
        s1 = Silence("s1", {"check": "api"}, T0, T0 + timedelta(hours=1), "al", "deploy", T0)
        s2 = Silence("s2", {"a": "b"}, T0, T0 + timedelta(hours=2), "bo", "", T0 + timedelta(1))
        await store.save_silence(s2)
        await store.save_silence(s1)
        expired = Silence("s1", s1.matchers, T0, T0 + timedelta(minutes=5), "al", "deploy", T0)
        await store.save_silence(expired)
        assert await store.load_silences() == [expired, s2]


class TestOutbox:
    """OutboxStore: escalation progress and outbox rows, one transaction."""

    async def test_outbox_dedup_keys_are_unique_and_new_rows_come_back(
        self, store: OutboxStore
    ) -> None:
        """commit_notifications skips rows whose dedup key exists and returns only new rows,
        with ids that update_deliveries then finds; escalations are kept and deleted with it."""
        added = await store.commit_notifications(
            [("fp", {"step": 1})], [delivery("a"), delivery("b")], 10.0
        )
        assert [d.dedup for d in added] == ["a", "b"]
        assert all(d.id is not None for d in added)
        again = await store.commit_notifications(
            [("fp", {"step": 2}), ("other", {"step": 0})], [delivery("b"), delivery("c")], 11.0
        )
        assert [d.dedup for d in again] == ["c"]
        assert sorted(await store.load_escalations(), key=str) == [{"step": 0}, {"step": 2}]
        sent = added[0].with_(state="sent", attempts=1, sent_at=12.0, ref={"id": "x"})
        await store.update_deliveries([sent])
        assert [d.dedup for d in await store.open_deliveries()] == ["b", "c"]
        assert (await store.deliveries_for("fp"))[0] == sent
        await store.commit_notifications([("fp", None), ("other", None)], [], 13.0)
        assert await store.load_escalations() == []

    async def test_a_failed_commit_leaves_nothing(self, store: OutboxStore) -> None:
        """Escalation progress and outbox rows are one transaction: when one part fails,
        neither is kept."""
        bad = delivery("bad").with_(fallback=object())
        with pytest.raises(Exception):  # noqa: B017,PT011 - whatever encoding raises
            await store.commit_notifications([("fp", {"step": 1})], [delivery("ok"), bad], 10.0)
        assert await store.load_escalations() == []
        assert await store.open_deliveries() == []

    async def test_thread_refs_are_kept_per_firing(self, store: OutboxStore) -> None:
        """Two outages of one alert posted two Slack messages: each firing keeps its own
        first message as its thread, keyed as the dispatcher asks (Delivery.thread_key);
        a row written before firings had an identity is keyed by the fingerprint."""
        at = T0.timestamp()

        def sent(key: str, since: float | None, ts: str) -> Delivery:
            alert = AlertFacts(fingerprint="fp", rule="R", check="c", severity="high", since=since)
            notice = Notice(kind="firing", at=at, alert=alert)
            return Delivery(
                key, "fp", "t", "slack", "#ops", notice, at, at, state="sent", ref={"ts": ts}
            )

        rows = [sent("1", at, "1.0"), sent("1b", at, "9.9"), sent("2", at + 600, "2.0")]
        rows.append(sent("0", None, "0.0"))
        await store.commit_notifications([], rows, at)
        assert await store.thread_refs() == {
            rows[0].thread_key: {"ts": "1.0"},
            rows[2].thread_key: {"ts": "2.0"},
            ("fp", "slack", "#ops"): {"ts": "0.0"},
        }
        assert rows[0].thread_key != rows[2].thread_key


class TestIncidents:
    """IncidentStore."""

    async def test_incidents_timelines_and_write_ups(self, store: IncidentStore) -> None:
        """An incident keeps its timeline in order, its write-up against later saves, and
        its resolution against a stale copy."""
        inc = Incident("INC-1", "fp", "R", "api", "critical", "api down", 100.0)
        fired = IncidentEvent(100.0, "fired", "fired", {"value": 0})
        await store.save_incident(inc, [fired])
        await store.write_up("INC-1", {"root_cause": "disk"}, [IncidentEvent(150.0, "note", "n1")])
        resolved = Incident("INC-1", "fp", "R", "api", "high", "api down", 100.0, resolved_at=200.0)
        await store.save_incident(resolved, [IncidentEvent(200.0, "resolved", "ok")])
        await store.save_incident(inc)  # a stale copy: neither reopens nor erases
        await store.add_incident_events("INC-1", [IncidentEvent(150.0, "note", "n2")])
        got = await store.incident("INC-1")
        assert got is not None
        incident, events = got
        assert incident.resolved_at == 200.0
        assert incident.root_cause == "disk"
        assert [e.text for e in events] == ["fired", "n1", "n2", "ok"]
        assert events[0].detail == {"value": 0}
        other = Incident("INC-2", "fp2", "R", "db", "low", "db slow", 300.0)
        await store.save_incident(other)
        assert [i.id for i in await store.incidents()] == ["INC-2", "INC-1"]
        assert [i.id for i in await store.incidents(since=250.0)] == ["INC-2"]
        assert [i.id for i in await store.incidents(limit=1, offset=1)] == ["INC-1"]
        assert await store.count_incidents() == 2
        assert await store.count_incidents(since=250.0) == 1
        assert [i.id for i in await store.open_incidents()] == ["INC-2"]
        assert await store.incident("INC-404") is None


class TestKeys:
    """KeyStore."""

    async def test_keys_are_set_once(self, store: KeyStore) -> None:
        """set_key_once keeps the first value; get_key reads it."""
        assert await store.get_key("ack_secret") is None
        assert await store.set_key_once("ack_secret", "one") == "one"
        assert await store.set_key_once("ack_secret", "two") == "one"
        assert await store.get_key("ack_secret") == "one"


class TestSloMinutes:
    """SloStore: per-minute SLO counters, replaced whole, kept apart from raw history."""

    async def test_minutes_replace_load_oldest_first_and_prune(self, store: Store) -> None:
        """A minute written again replaces its counts; load is ordered by SLO, then
        minute, and reads the SLOs named only (the keeper reads 200 at a time at start);
        prune_slo_minutes removes only what is before its cutoff."""
        slos: SloStore = store
        await slos.save_slo_minutes([("api", 101, 5, 6), ("api", 100, 3, 3), ("web", 100, 1, 2)])
        await slos.save_slo_minutes([("api", 101, 9, 10), ("db", 99, 1, 1)])
        assert await slos.load_slo_minutes(0) == [
            ("api", 100, 3, 3),
            ("api", 101, 9, 10),
            ("db", 99, 1, 1),
            ("web", 100, 1, 2),
        ]
        assert await slos.load_slo_minutes(0, ["web", "api", "gone"]) == [
            ("api", 100, 3, 3),
            ("api", 101, 9, 10),
            ("web", 100, 1, 2),
        ]
        assert await slos.load_slo_minutes(0, []) == []
        assert await slos.prune_slo_minutes(100) == 1  # db's minute 99
        await slos.save_slo_minutes([("web", 100, 1, 2)])
        assert await slos.load_slo_minutes(101) == [("api", 101, 9, 10)]
        assert await slos.prune_slo_minutes(101) == 2
        assert await slos.load_slo_minutes(0) == [("api", 101, 9, 10)]
        await slos.save_slo_minutes([])  # nothing to write is not an error

    async def test_members_keep_their_own_rows_and_readers_sum_them(self, store: Store) -> None:
        """Several replicas: a member's row replaces only its own (slo, minute, member);
        loads, days and roll-ups sum every member's and the member-less rows older
        versions wrote; others_slo_minutes sums the other members' minutes written since
        a time. Before, the member that wrote last replaced the other's minute."""
        slos: SloStore = store
        hour = 500_000 * 60
        await slos.save_slo_minutes([("api", hour + 1, 5, 6)], "m1")
        await slos.save_slo_minutes([("api", hour + 1, 3, 3), ("api", hour + 2, 1, 1)], "m2")
        await slos.save_slo_minutes([("api", hour + 1, 6, 7)], "m1")  # m1's minute grew
        assert await slos.load_slo_minutes(0) == [("api", hour + 1, 9, 10), ("api", hour + 2, 1, 1)]
        assert await slos.slo_days("api", 0, hour + 60) == [(hour // 1440, 10, 11)]
        others = await slos.others_slo_minutes("m1", hour, 0.0)
        assert [r[:4] for r in others] == [("api", hour + 1, 3, 3), ("api", hour + 2, 1, 1)]
        newest = max(r[4] for r in others)
        assert await slos.others_slo_minutes("m1", hour + 2, 0.0) == [others[1]]
        assert await slos.others_slo_minutes("m1", hour, newest + 3600) == []
        assert [r[:4] for r in await slos.others_slo_minutes("m2", hour, 0.0)] == [
            ("api", hour + 1, 6, 7)
        ]
        assert await slos.roll_up_slo_minutes(hour + 60) == 3
        assert await slos.load_slo_hours(0) == [("api", hour, 10, 11, hour + 1)]
        assert await slos.load_slo_minutes(0) == []

    async def test_slo_days_sum_the_minutes_of_each_utc_day_in_the_range(
        self, store: Store
    ) -> None:
        """slo_days (reports): one SLO's good and total per UTC day, of its minutes in
        [since, until) only, oldest day first."""
        day = 20_000 * 1440  # the first minute of a UTC day
        await store.save_slo_minutes(
            [
                ("api", day - 1, 1, 1),  # the day before, outside the range
                ("api", day, 9, 10),
                ("api", day + 1439, 5, 5),
                ("web", day + 5, 0, 2),
                ("api", day + 1440, 3, 4),
                ("api", day + 2880, 7, 7),  # the range's end: left out
            ]
        )
        assert await store.slo_days("api", day, day + 2880) == [(20_000, 14, 15), (20_001, 3, 4)]
        assert await store.slo_days("web", day, day + 2880) == [(20_000, 0, 2)]
        assert await store.slo_days("api", day + 3000, day + 4000) == []
        assert await store.slo_days("gone", day, day + 2880) == []

    async def test_roll_up_sums_whole_hours_and_never_counts_twice(self, store: Store) -> None:
        """roll_up_slo_minutes sums the minutes before its cutoff per UTC hour (with the
        earliest minute of each) and deletes them; rolling again adds only what was
        written since; load_slo_hours reads hours from a minute on, by SLO, oldest first."""
        slos: SloStore = store
        hour = 500_000 * 60  # the first minute of a UTC hour
        await slos.save_slo_minutes(
            [
                ("api", hour + 5, 9, 10),
                ("api", hour + 59, 1, 2),
                ("api", hour + 60, 3, 3),
                ("web", hour + 7, 0, 1),
                ("api", hour + 125, 4, 4),  # after the cutoff: stays a minute
            ]
        )
        assert await slos.roll_up_slo_minutes(hour + 120) == 4
        assert await slos.roll_up_slo_minutes(hour + 120) == 0  # again: nothing to add
        assert await slos.load_slo_hours(0) == [
            ("api", hour, 10, 12, hour + 5),
            ("api", hour + 60, 3, 3, hour + 60),
            ("web", hour, 0, 1, hour + 7),
        ]
        assert await slos.load_slo_hours(0, ["web"]) == [("web", hour, 0, 1, hour + 7)]
        assert await slos.load_slo_minutes(0) == [("api", hour + 125, 4, 4)]
        assert await slos.load_slo_hours(hour + 60) == [("api", hour + 60, 3, 3, hour + 60)]
        await slos.save_slo_minutes([("api", hour + 2, 5, 5)])  # written late: added
        assert await slos.roll_up_slo_minutes(hour + 120) == 1
        assert (await slos.load_slo_hours(0))[0] == ("api", hour, 15, 17, hour + 2)

    async def test_roll_up_splits_an_hour_at_an_slos_own_hour_start(self, store: Store) -> None:
        """An SLO in ``shifts`` (a month in a zone 30 minutes off the UTC hour) gets a
        row for each part of the UTC hour on either side of its own hour's start."""
        slos: SloStore = store
        hour = 500_000 * 60
        rows = [(name, hour + m, 1, 1) for name in ("api", "ist") for m in (0, 29, 30, 59, 70)]
        await slos.save_slo_minutes(rows)
        await slos.roll_up_slo_minutes(hour + 120, {"ist": 30, "utc": 0})
        assert await slos.load_slo_hours(0) == [
            ("api", hour, 4, 4, hour),
            ("api", hour + 60, 1, 1, hour + 70),
            ("ist", hour, 2, 2, hour),
            ("ist", hour + 30, 2, 2, hour + 30),
            ("ist", hour + 60, 1, 1, hour + 70),
        ]

    async def test_days_and_pruning_read_hours_and_minutes(self, store: Store) -> None:
        """slo_days sums rolled-up hours with the minutes (an hour counts in the day it
        starts in, if it starts in the range); prune_slo_minutes deletes both."""
        slos: SloStore = store
        day = 20_000 * 1440
        rows = [("api", day + m, 1, 2) for m in range(0, 2880, 7)]
        await slos.save_slo_minutes(rows)
        before = await slos.slo_days("api", day, day + 2880)
        await slos.roll_up_slo_minutes(day + 1500)
        assert await slos.slo_days("api", day, day + 2880) == before
        counted = len(range(0, 1440, 7)) - len(range(0, 60, 7))  # the first hour is left out
        assert await slos.slo_days("api", day + 60, day + 2880) == [
            (20_000, counted, 2 * counted),
            before[1],
        ]
        assert await slos.prune_slo_minutes(day + 1440) == 24
        assert await slos.slo_days("api", day, day + 2880) == [before[1]]
        assert await slos.load_slo_hours(0) == [("api", day + 1440, 9, 18, day + 1442)]

    async def test_pruning_raw_history_keeps_slo_minutes(self, store: Store) -> None:
        """prune_results (the history retention) must not touch the SLO budget."""
        minute = int(T0.timestamp() // 60)
        await store.save_slo_minutes([("api", minute, 59, 60)])
        await store.add_results([result("api", 0)])
        await store.prune_results(T0 + timedelta(days=400))
        assert await store.load_slo_minutes(0) == [("api", minute, 59, 60)]

    async def test_minutes_survive_a_reopen(self, store_url: str) -> None:
        """A restart finds the counters written before it (the budget is kept)."""
        first = open_store(store_url)
        await first.open()
        await first.save_slo_minutes([("api", 7, 1, 2)])
        await first.close()
        again = open_store(store_url)
        await again.open()
        try:
            assert await again.load_slo_minutes(0) == [("api", 7, 1, 2)]
        finally:
            await again.close()


class TestHolds:
    """HoldStore: the resolutions holding SLO alerts' inhibition (docs/slos.md)."""

    async def test_saved_replaced_deleted_and_loaded_oldest_first(self, store: HoldStore) -> None:
        """A row replaces its fingerprint's; deleted fingerprints go; load reads the rows
        resolved at ``since`` or later, oldest first, with their labels whole."""
        down = {"alertname": "ServiceDown", "check": "api", "service": "shop"}
        await store.save_holds([("a", down, 200.0), ("b", {"check": "db"}, 100.0)], [], 0.0)
        await store.save_holds([("a", {**down, "tier": "1"}, 300.0)], [], 0.0)
        assert await store.load_holds(0.0) == [
            ("b", {"check": "db"}, 100.0),
            ("a", {**down, "tier": "1"}, 300.0),
        ]
        assert await store.load_holds(300.0) == [("a", {**down, "tier": "1"}, 300.0)]
        assert await store.load_holds(300.5) == []
        await store.save_holds([], ["b", "nothing"], 0.0)
        assert [fp for fp, _, _ in await store.load_holds(0.0)] == ["a"]
        await store.save_holds([], [], 0.0)  # nothing to write is not an error

    async def test_rows_resolved_before_the_cutoff_are_pruned(self, store: HoldStore) -> None:
        """``before`` deletes the expired rows in the same transaction, those saved with
        it too; a row saved and deleted in one call is gone."""
        await store.save_holds([("old", {}, 10.0), ("kept", {}, 50.0)], [], 0.0)
        await store.save_holds([("late", {}, 5.0), ("new", {}, 60.0), ("x", {}, 70.0)], ["x"], 20.0)
        assert await store.load_holds(0.0) == [("kept", {}, 50.0), ("new", {}, 60.0)]


class TestViews:
    """Each place's latest view of a check (quorum, issue 16)."""

    async def test_a_place_keeps_only_its_latest_view(self, store: ViewStore) -> None:
        """A new run of the same place replaces its view; places and checks stay apart."""
        await store.save_view(View("api", "eu-west", 10, False, "HTTP 500", 100.5, 0.2, "m1"))
        await store.save_view(View("api", "us-east", 10, True, None, 100.7, 0.1, "m2"))
        await store.save_view(View("db", "eu-west", 3, True, None, 90.0, 0.0, "m1"))
        await store.save_view(View("api", "eu-west", 11, True, None, 110.5, 0.3, "m3"))
        got = sorted(await store.load_views(["api"]), key=lambda v: v.place)
        assert got == [
            View("api", "eu-west", 11, True, None, 110.5, 0.3, "m3"),
            View("api", "us-east", 10, True, None, 100.7, 0.1, "m2"),
        ]
        assert await store.load_views([]) == []
        assert len(await store.load_views(["api", "db", "nothing"])) == 3
