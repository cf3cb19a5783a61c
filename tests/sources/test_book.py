"""The book's decisions: one alert per (source, key), idempotent intake, out-of-order
deliveries kept out, severity and policy from the labels; no clock, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sentinel.config import Config
from sentinel.rules.engine import Instance
from sentinel.sources.book import SourceBook
from sentinel.sources.external import External, classify, external_fingerprint
from sentinel.sources.inbound import Inbound
from sentinel.sources.taken import Taken

T0 = 1_767_603_600.0


def config(**source: Any) -> Config:
    prom = {"name": "prom", "type": "alertmanager", "token": "t0k3n", **source}
    return Config.model_validate({"sources": [prom]})


def book(**source: Any) -> SourceBook:
    b = SourceBook()
    b.configure(config(**source))
    return b


def firing(key: str = "fp1", starts: float = T0, **labels: str) -> Inbound:
    return Inbound(
        key,
        "firing",
        tuple(sorted({"alertname": "HighErrorRate", **labels}.items())),
        summary="High error rate",
        starts_at=starts,
    )


def resolved(key: str = "fp1", starts: float = T0, ends: float | None = T0 + 600) -> Inbound:
    return Inbound(
        key, "resolved", (("alertname", "HighErrorRate"),), starts_at=starts, ends_at=ends
    )


def test_a_firing_alert_fires_once_however_often_it_arrives() -> None:
    """Alertmanager in HA sends twice, and resends the group every repeat_interval."""
    b = book()
    taken = b.take("prom", [firing(), firing()], T0 + 1)
    assert [t.event for t in taken.transitions] == ["firing"]
    assert taken.counts == {"fired": 1, "repeated": 1}
    again = b.take("prom", [firing()], T0 + 3600)
    assert again.transitions == []
    assert again.counts == {"repeated": 1}
    assert len(b.active()) == 1


def test_two_alerts_of_one_group_are_two_alerts_even_with_one_summary() -> None:
    b = book()
    taken = b.take("prom", [firing("a", instance="x"), firing("b", instance="y")], T0)
    assert len(taken.transitions) == 2
    assert len({t.instance.fingerprint for t in taken.transitions}) == 2


def test_resolve_resolves_and_its_duplicate_does_nothing() -> None:
    b = book()
    b.take("prom", [firing()], T0)
    taken = b.take("prom", [resolved()], T0 + 600)
    assert [t.event for t in taken.transitions] == ["resolved"]
    assert b.take("prom", [resolved()], T0 + 601).transitions == []
    assert b.active() == []


def test_a_resolve_older_than_the_firing_does_not_flap_the_alert() -> None:
    """Episode 1 resolved late, after episode 2 fired: the alert stays firing."""
    b = book()
    b.take("prom", [firing(starts=T0 + 900)], T0 + 900)
    taken = b.take("prom", [resolved(starts=T0, ends=T0 + 600)], T0 + 901)
    assert taken.transitions == []
    assert taken.counts == {"stale": 1}
    assert len(b.active()) == 1


def test_a_late_copy_of_a_resolved_firing_does_not_fire_again() -> None:
    """The HA peer's firing notification arrives after the resolve."""
    b = book()
    b.take("prom", [firing()], T0)
    b.take("prom", [resolved()], T0 + 600)
    taken = b.take("prom", [firing(starts=T0)], T0 + 602)
    assert taken.transitions == []
    assert taken.counts == {"stale": 1}
    # A new episode (it started after the last one ended) fires.
    assert [t.event for t in b.take("prom", [firing(starts=T0 + 700)], T0 + 700).transitions] == [
        "firing"
    ]


def test_a_resolve_that_comes_first_keeps_its_late_firing_out() -> None:
    b = book()
    b.take("prom", [resolved()], T0 + 600)
    assert b.take("prom", [firing(starts=T0)], T0 + 601).transitions == []


def test_quiet_source_resolves_nothing() -> None:
    """A source that stops sending is not taken as resolved."""
    b = book()
    b.take("prom", [firing()], T0)
    assert b.tick(datetime.fromtimestamp(T0 + 30 * 86400, UTC)) == []
    assert len(b.active()) == 1


def test_a_changed_text_is_kept_for_the_next_notice_without_a_page() -> None:
    b = book()
    b.take("prom", [firing()], T0)
    changed = Inbound("fp1", "firing", firing().labels, summary="Error rate 30%", starts_at=T0)
    taken = b.take("prom", [changed], T0 + 60)
    assert taken.transitions == []
    assert len(taken.changed) == 1
    assert taken.changed[0].summary == "Error rate 30%"


def test_severity_from_label_mapping_and_routes() -> None:
    source = config(
        severities={"sev1": "critical", "warning": "medium"},
        default_severity="low",
        escalation="default-policy",
        labels={"via": "prom"},
        routes=[{"match": {"team": "db"}, "escalation": "dba", "severity": "high"}],
    ).sources[0]
    assert classify(source, {"severity": "SEV1"})[:2] == ("critical", "default-policy")
    assert classify(source, {"severity": "whatever"})[0] == "low"
    assert classify(source, {"severity": "warning", "team": "db"}) == (
        "high",
        "dba",
        {"via": "prom"},
    )


def test_defaults_map_prometheus_severities() -> None:
    source = config().sources[0]
    assert classify(source, {"severity": "warning"})[0] == "medium"
    assert classify(source, {"severity": "critical"})[0] == "critical"
    assert classify(source, {"severity": "info"})[0] == "low"
    assert classify(source, {})[0] == "high"


def test_stored_alerts_come_back_whole() -> None:
    """What the store keeps (the labels row) restores key, text, start and routing."""
    b = book()
    b.take("prom", [Inbound("fp1", "firing", (("alertname", "X"), ("severity", "critical")),
                            summary="S", description="D", runbook="R", link="L",
                            starts_at=T0)], T0)  # fmt: skip
    (stored,) = b.active()
    plain = Instance(stored.rule, stored.check, stored.labels, stored.state)
    fresh = book()
    assert fresh.restore([plain]) == []
    (back,) = fresh.active()
    assert isinstance(back, External)
    assert back.fingerprint == external_fingerprint("prom", "fp1") == stored.fingerprint
    assert (back.summary, back.description, back.runbook, back.link) == ("S", "D", "R", "L")
    assert back.starts_at == T0
    assert back.severity == "critical"
    assert back.routing_labels() == {
        "alertname": "X",
        "check": "prom",
        "source": "prom",
        "severity": "critical",
    }


def test_a_removed_source_takes_its_alerts_away() -> None:
    b = book()
    b.take("prom", [firing()], T0)
    b.configure(Config())
    assert b.active() == []


def test_an_alert_that_fires_and_resolves_again_and_again_flaps_then_settles() -> None:
    """Three fire/resolve cycles within the hour: flapping (announced once); an hour
    with fewer than two changes: settled."""
    b = book()
    events = []
    for n in range(3):
        start = T0 + n * 600
        events += b.take("prom", [firing(starts=start)], start).transitions
        events += b.take("prom", [resolved(starts=start, ends=start + 60)], start + 60).transitions
    assert [t.event for t in events] == ["firing", "resolved"] * 2 + [
        "firing",
        "resolved",
        "flapping",
    ]
    again = b.take("prom", [firing(starts=T0 + 2000)], T0 + 2000).transitions
    assert [t.event for t in again] == ["firing"]  # no second announcement
    (fp,) = b.flapping
    assert fp == again[0].instance.fingerprint
    assert b.tick(datetime.fromtimestamp(T0 + 2100, UTC)) == []
    settled = b.tick(datetime.fromtimestamp(T0 + 2000 + 3600, UTC))
    assert [t.event for t in settled] == ["settled"]
    assert b.flapping == {}


class Shared:
    """What the members' store keeps of inbound alerts (as sentinel/app/alerts.py saves
    them with several replicas): open alerts as stored instances, episode ends, and
    when each source last spoke."""

    def __init__(self) -> None:
        self.rows: dict[str, Instance] = {}
        self.ends: dict[str, float] = {}
        self.spoke: dict[str, float] = {}

    def take(self, b: SourceBook, batch: list[Inbound], now: float) -> Taken:
        """One request to the member whose book is ``b``: read, decide, save."""
        fps = [external_fingerprint("prom", i.key) for i in batch]
        self.sync(b, fps)
        taken = b.take("prom", batch, now)
        for t in taken.transitions:
            fp = t.instance.fingerprint
            if t.event == "firing":
                a = t.instance
                self.rows[fp] = Instance(a.rule, a.check, a.labels, a.state, a.value)
            elif t.event == "resolved":
                self.rows.pop(fp, None)
        for fp in taken.ended:
            end = b.ended(fp)
            assert end is not None
            self.ends[fp] = max(end, self.ends.get(fp, end))
        self.spoke["prom"] = max(now, self.spoke.get("prom", now))
        b.touch(fps)
        return taken

    def sync(self, b: SourceBook, fps: list[str], mark: int | None = None) -> list[str]:
        stored = {fp: self.rows[fp] for fp in fps if fp in self.rows}
        ends = {fp: self.ends[fp] for fp in fps if fp in self.ends}
        return b.sync(fps, stored, ends, self.spoke, b.seq if mark is None else mark)


def test_several_replicas_fired_through_one_resolved_through_another() -> None:
    """Behind a load balancer: the firing reaches a, the resolve b. b knows the alert
    from the store and resolves it; a learns it is gone (its escalation is closed
    from there); a late copy of the firing, to a, is stale."""
    shared, a, b = Shared(), book(), book()
    fp = external_fingerprint("prom", "fp1")
    assert [t.event for t in shared.take(a, [firing()], T0 + 1).transitions] == ["firing"]
    taken = shared.take(b, [resolved()], T0 + 600)
    assert [t.event for t in taken.transitions] == ["resolved"]
    assert taken.counts == {"resolved": 1}
    assert shared.rows == {}
    assert shared.ends == {fp: T0 + 600}
    assert shared.sync(a, [fp]) == [fp]  # a's escalation tick: resolved elsewhere
    assert a.active() == []
    late = shared.take(a, [firing()], T0 + 700)
    assert late.transitions == []
    assert late.counts == {"stale": 1}
    again = shared.take(a, [firing(starts=T0 + 900)], T0 + 900)  # a new episode fires
    assert [t.event for t in again.transitions] == ["firing"]


def test_several_replicas_a_firing_reaching_both_fires_once() -> None:
    """Alertmanager in HA: the firing reaches a, its peer's copy b: a repeat on b, with
    the stored alert (a's firing time) as b's own."""
    shared, a, b = Shared(), book(), book()
    shared.take(a, [firing()], T0 + 1)
    taken = shared.take(b, [firing()], T0 + 2)
    assert taken.transitions == []
    assert taken.counts == {"repeated": 1}
    (known,) = b.active()
    assert known.state.fired_at == T0 + 1
    assert b.last_spoke["prom"] == T0 + 2
    shared.sync(a, [])
    assert a.last_spoke["prom"] == T0 + 2  # the source last spoke to b


def test_several_replicas_a_read_older_than_a_change_here_does_not_undo_it() -> None:
    """A read begun before this member took (or saved) an alert says nothing of it."""
    shared, a = Shared(), book()
    fp = external_fingerprint("prom", "fp1")
    mark = a.seq
    a.take("prom", [firing()], T0)  # not saved yet: the read below does not see it
    assert shared.sync(a, [fp], mark) == []
    assert len(a.active()) == 1
    assert a.sync([fp], {}, {}, {}, a.seq, busy={fp}) == []  # its save is under way
    assert len(a.active()) == 1
    assert a.sync([fp], {}, {}, {}, a.seq) == [fp]  # saved, then gone from the store


def test_a_resolve_dated_in_the_future_ends_the_episode_now() -> None:
    """An episode cannot end after it was reported: a resolve whose endsAt lies a year
    ahead (a skewed clock, or a sender's typo) ends it at the time it arrived, so the
    next real episode is not taken for a late copy of this one for a year."""
    b = book()
    b.take("prom", [firing()], T0)
    b.take("prom", [resolved(ends=T0 + 365 * 86400)], T0 + 600)
    assert b.ended(external_fingerprint("prom", "fp1")) == T0 + 600
    taken = b.take("prom", [firing(starts=T0 + 700)], T0 + 700)
    assert [t.event for t in taken.transitions] == ["firing"]
