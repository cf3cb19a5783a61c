"""The sharing shell as timelines: two members in two locations on one store, a fake
clock, the real SQLite store (its location_views table), the real rule engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel.clock import FakeClock
from sentinel.cluster.health import RULE
from sentinel.cluster.ownership import owners, weight
from sentinel.cluster.quorum import View
from sentinel.cluster.sharing import Sharing, anchor, combine_delay
from sentinel.config import parse_config
from sentinel.config.models import Config
from sentinel.probes.results import Result, Sample
from sentinel.probes.runner import Armed
from sentinel.rules.engine import RuleEngine
from sentinel.store import Store, open_store

CONFIG = """
checks:
  - {name: api, type: http, url: "http://127.0.0.1/a", interval: 10s, timeout: 2s,
     locations: [eu, us], quorum: 2}
  - {name: held, type: http, url: "http://127.0.0.1/h", interval: 10s, timeout: 2s,
     locations: [eu, us], quorum: 2, quorum_missing: hold}
  - {name: solo, type: http, url: "http://127.0.0.1/s", interval: 10s, timeout: 2s}
  - {name: absent-watch, type: http, url: "http://127.0.0.1/w", interval: 10s}
rules:
  - {name: Down, match: {type: http}, expr: up == 0, severity: critical}
  - {name: Silent, match: {check: absent-watch}, expr: 'absent(up[30s])', severity: high}
"""


@dataclass(frozen=True)
class M:
    id: str
    location: str


EU, US = M("m-eu", "eu"), M("m-us", "us")


class NoProbe:
    async def run(self) -> object:
        raise AssertionError("the shell never runs a probe")

    async def close(self) -> None:
        return None


def armed(config: Config) -> dict[str, Armed]:
    return {c.name: Armed(c, c.type, NoProbe()) for c in config.checks}  # type: ignore[arg-type]


class Member:
    """One member's shell with what the daemon would give it, recorded."""

    def __init__(self, me: M, store: Store, clock: FakeClock, config: Config) -> None:
        self.scheduled: list[str] = []
        self.delivered: list[Result] = []
        self.adopted: list[frozenset[str]] = []
        self.released: list[frozenset[str]] = []
        self.let_go: list[str] = []  # fingerprints whose escalation claims were let go
        self.sharing = Sharing(
            me.id,
            me.location,
            store,
            clock,
            schedule=self._schedule,
            deliver=self.delivered.append,
            adopt=self._adopt,
            release=self.released.append,
            stored_alerts=store.load_alerts,
            let_go=self._let_go,
        )
        self.sharing.configure(armed(config))

    def _schedule(self, checks: Iterable[tuple[str, float]]) -> None:
        self.scheduled = sorted(n for n, _ in checks)

    async def _adopt(self, checks: frozenset[str]) -> None:
        self.adopted.append(checks)

    async def _let_go(self, fingerprints: list[str]) -> None:
        self.let_go += fingerprints


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(f"sqlite://{tmp_path}/state.db")
    await s.open()
    yield s
    await s.close()


def run(check: str, ok: bool, at: float) -> Result:
    return Result(
        check=check,
        type="http",
        ok=ok,
        started_at=datetime.fromtimestamp(at, UTC),
        duration=0.05,
        error=None if ok else "HTTP 500",
        samples=(Sample("up", 1.0 if ok else 0.0), Sample("duration_seconds", 0.05)),
    )


async def bucket_of(
    members: dict[str, Member], check: str, k: int, seen: dict[str, bool | None]
) -> list[Result]:
    """Bucket ``k`` of ``check``: each place in ``seen`` runs (None: silent), then the
    primary combines after the delay. Returns what was delivered to the rules."""
    config = members["eu"].sharing._checks[check]
    due = anchor(config) + k * config.interval
    for place, ok in seen.items():
        if ok is not None:
            assert members[place].sharing.divert(run(check, ok, due + 0.2))
    for m in members.values():  # the writes are tasks: let them land
        for task in list(m.sharing._tasks):
            await task
    primary = next(m for m in members.values() if m.sharing.ownership.is_primary(check))
    before = len(primary.delivered)
    await primary.sharing.combine(due + combine_delay(config) + 0.01)
    return primary.delivered[before:]


async def test_confirmation_from_two_locations(store: Store) -> None:
    """eu down, us up: up (no page); both down: down; us silent: unknown view, eu decides."""
    clock = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    config = parse_config(CONFIG, "t.yaml", {})
    members = {"eu": Member(EU, store, clock, config), "us": Member(US, store, clock, config)}
    for m in members.values():
        m.sharing.rebalance([EU, US])
        assert {"api", "held"} <= set(m.scheduled)  # both locations probe both
    solo_owner = owners("solo", [EU, US])[0]
    assert ("solo" in members["eu"].scheduled) == (solo_owner == EU.id)
    assert ("solo" in members["us"].scheduled) == (solo_owner == US.id)

    got = await bucket_of(members, "api", 1000, {"eu": False, "us": True})
    assert [(r.ok, r.sample("places_down")) for r in got] == [(True, 1.0)]

    got = await bucket_of(members, "api", 1001, {"eu": False, "us": False})
    assert [r.ok for r in got] == [False]
    assert got[0].error == "down from eu, us (quorum 2)"
    assert got[0].started_at.timestamp() == anchor(config.checks[0]) + 1001 * 10

    got = await bucket_of(members, "api", 1002, {"eu": False, "us": None})
    assert [r.ok for r in got] == [False]  # quorum lowered to the one place that reports
    assert "unknown from us" in (got[0].error or "")

    got = await bucket_of(members, "held", 1002, {"eu": False, "us": None})
    assert got == []  # hold: one down of two needed, one unknown: no decision
    primary = next(m for m in members.values() if m.sharing.ownership.is_primary("held"))
    assert primary.sharing.decisions["held"][1].verdict == "unknown"

    await members["eu"].sharing.judge(anchor(config.checks[0]) + 1002 * 10 + 3.5)
    views = {v["place"]: v["state"] for v in members["eu"].sharing.views_of("api")}
    assert views == {"eu": "down", "us": "unknown"}


async def test_a_run_of_a_single_place_check_is_not_diverted(store: Store) -> None:
    """Checks probed once go through the normal path untouched."""
    clock = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    member = Member(EU, store, clock, parse_config(CONFIG, "t.yaml", {}))
    member.sharing.rebalance([EU])
    assert not member.sharing.divert(run("solo", False, 1000.0))


async def test_rebalance_schedules_the_share_and_adopts_what_moves(store: Store) -> None:
    """A member leaving: the survivor schedules its checks and adopts their rule state;
    coming back: the survivor releases them again."""
    clock = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    config = parse_config(CONFIG, "t.yaml", {})
    a, b = M("a", "eu"), M("b", "eu")
    ma = Member(a, store, clock, config)
    ma.sharing.rebalance([a, b])
    mine = set(ma.scheduled)
    ma.sharing.rebalance([a])
    assert ma.scheduled == sorted(c.name for c in config.checks)
    moved = ma.sharing.fed - mine
    for task in list(ma.sharing._tasks):
        await task
    assert ma.adopted == ([frozenset(moved)] if moved else [])
    ma.sharing.rebalance([a, b])
    assert set(ma.scheduled) == mine
    assert ma.released[-1:] == ([frozenset(moved)] if moved else [])


async def test_unhealthy_location_raises_one_alert_from_one_member(store: Store) -> None:
    """eu sees every check down that us sees up: one alert 'probe location eu
    unhealthy', raised by the owner of the location's name only, and eu's views count
    as unknown meanwhile."""
    clock = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    names = [f"c{i}" for i in range(4)]
    text = "checks:\n" + "".join(
        f'  - {{name: {n}, type: http, url: "http://127.0.0.1/{n}", interval: 10s, '
        "timeout: 2s, locations: [eu, us]}\n"
        for n in names
    )
    config = parse_config(text, "t.yaml", {})
    members = {"eu": Member(EU, store, clock, config), "us": Member(US, store, clock, config)}
    engines = {}
    for place, m in members.items():
        m.sharing.rebalance([EU, US])
        engines[place] = RuleEngine()
        engines[place].attach(m.sharing.alerts)
        engines[place].configure(config)
    k = 2000
    for n in names:
        await bucket_of(members, n, k, {"eu": False, "us": True})
    now = anchor(config.checks[0]) + k * 10 + 3.5
    for m in members.values():
        assert await m.sharing.judge(now) == {"eu"}
    fired = []
    for place, engine in engines.items():
        for second in (0, 61):
            at = datetime.fromtimestamp(now + second, UTC)
            fired += [(place, t.instance.check, t.event) for t in engine.tick(at)]
    owner = owners("location:eu", [EU, US])[0]
    place_of_owner = "eu" if owner == EU.id else "us"
    assert [f for f in fired if f[2] == "firing"] == [(place_of_owner, "eu", "firing")]
    inst = next(i for e in engines.values() for i in e.active())
    assert inst.rule == RULE
    # eu's views are unknown now: a check both see down is decided by us alone
    got = await bucket_of(members, "c0", k + 1, {"eu": False, "us": False})
    assert [r.ok for r in got] == [False]
    assert "unknown from eu" in (got[0].error or "")


async def test_a_location_alert_changing_owner_is_handed_over_not_resolved(
    store: Store,
) -> None:
    """The owner of the name ``location:eu`` fires eu's alert; a member joins and owns
    the name now. The old owner drops the firing alert without a transition (no
    stray "resolved") and lets go of its escalation; the new one takes the stored
    state (firing, fired at the same time: no second page), and resolves it once
    when eu is healthy again."""
    clock = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    names = [f"c{i}" for i in range(4)]
    text = "checks:\n" + "".join(
        f'  - {{name: {n}, type: http, url: "http://127.0.0.1/{n}", interval: 10s, '
        "timeout: 2s, locations: [eu, us]}\n"
        for n in names
    )
    config = parse_config(text, "t.yaml", {})
    # a member elsewhere (it probes none of these) that owns the name once it joins
    new = next(
        M(f"m-ap{n}", "ap")
        for n in range(1000)
        if owners("location:eu", [EU, US, M(f"m-ap{n}", "ap")])[0] == f"m-ap{n}"
    )
    members = {"eu": Member(EU, store, clock, config), "us": Member(US, store, clock, config)}
    everyone = dict(members)
    engines = {}

    def join(place: str, m: Member, live: list[M]) -> None:
        everyone[place] = m
        for each in everyone.values():
            each.sharing.rebalance(live)
        engines[place] = RuleEngine()
        engines[place].attach(m.sharing.alerts)
        engines[place].configure(config)

    for place, m in members.items():
        join(place, m, [EU, US])
    k = 2000
    for n in names:
        await bucket_of(members, n, k, {"eu": False, "us": True})
    now = anchor(config.checks[0]) + k * 10 + 3.5

    async def step(judged: float, ticks: tuple[float, ...]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for m in everyone.values():
            await m.sharing.judge(judged)
            for task in list(m.sharing._tasks):  # the claims let go
                await task
        for place, engine in engines.items():
            for second in ticks:
                at = datetime.fromtimestamp(judged + second, UTC)
                for t in engine.tick(at):
                    out.append((place, t.event))
                    if t.event in ("pending", "firing"):  # the alert shell saves these
                        await store.save_alert(t.instance)
                    elif t.event == "resolved":
                        await store.delete_alert(t.instance.fingerprint)
        return out

    old = "eu" if owners("location:eu", [EU, US])[0] == EU.id else "us"
    assert await step(now, (0, 61)) == [(old, "pending"), (old, "firing")]
    (fired,) = engines[old].active()

    join("ap", Member(new, store, clock, config), [EU, US, new])
    assert await step(now, (62, 120)) == []  # handed over: nothing ends, nothing fires
    assert everyone[old].let_go == [fired.fingerprint]
    (taken,) = engines["ap"].active()
    assert taken.fingerprint == fired.fingerprint
    assert (taken.state.state, taken.state.fired_at) == ("firing", fired.state.fired_at)
    assert [i for p, e in engines.items() if p != "ap" for i in e.active()] == []

    for n in names:  # eu sees the checks up again
        await bucket_of(members, n, k + 1, {"eu": True, "us": True})
    assert await step(now + 10, (121,)) == [("ap", "resolved")]


class HeldReads:
    """The store, with each read of views held until let through."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reading = asyncio.Event()
        self.through = asyncio.Event()

    async def save_view(self, view: View) -> None:
        await self.store.save_view(view)

    async def load_views(self, checks: Sequence[str]) -> list[View]:
        self.reading.set()
        await self.through.wait()
        return await self.store.load_views(checks)


async def test_a_bucket_read_while_the_check_moves_is_not_delivered_by_the_old_primary(
    store: Store,
) -> None:
    """The primary reads a bucket's views; meanwhile a member joins and becomes the
    check's primary. The old primary delivers nothing (its rules released the check:
    a result now would start a second alert beside the new primary's, whose save
    could overwrite the firing one the new primary adopts)."""
    clock = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    config = parse_config(CONFIG, "t.yaml", {})
    members = {"eu": Member(EU, store, clock, config), "us": Member(US, store, clock, config)}
    for m in members.values():
        m.sharing.rebalance([EU, US])
    top = max(weight(EU.id, "api"), weight(US.id, "api"))
    new = next(M(f"m-new{n}", "eu") for n in range(1000) if weight(f"m-new{n}", "api") > top)
    primary = next(m for m in members.values() if m.sharing.ownership.is_primary("api"))
    check = config.checks[0]
    k = 3000
    due = anchor(check) + k * check.interval
    for place in members:
        assert members[place].sharing.divert(run("api", False, due + 0.2))
    for m in members.values():
        for task in list(m.sharing._tasks):
            await task
    held = HeldReads(store)
    primary.sharing.store = held
    combining = asyncio.ensure_future(primary.sharing.combine(due + combine_delay(check) + 0.01))
    await asyncio.wait_for(held.reading.wait(), 5)
    primary.sharing.rebalance([EU, US, new])
    assert not primary.sharing.ownership.is_primary("api")
    held.through.set()
    assert await asyncio.wait_for(combining, 5) == []
    assert [r for r in primary.delivered if r.check == "api"] == []


def test_rules_scope_keeps_absent_from_firing_on_others_checks() -> None:
    """A member ticks absent() only on checks it feeds: another member's check, silent
    here, does not fire."""
    config = parse_config(CONFIG, "t.yaml", {})
    engine = RuleEngine()
    engine.configure(config)
    engine.scope({"solo"})
    at = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    assert engine.tick(at) == []
    engine.scope(None)
    assert [t.instance.rule for t in engine.tick(at)] == ["Silent"]


async def test_a_member_not_among_the_live_keeps_its_share(store: Store) -> None:
    """A failed heartbeat (our lease not held) lists no members: the share stays
    scheduled, so the checks keep being probed while the database is away."""
    clock = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    config = parse_config(CONFIG, "t.yaml", {})
    a, b = M("a", "eu"), M("b", "eu")
    ma = Member(a, store, clock, config)
    assert ma.scheduled == sorted(c.name for c in config.checks)  # alone until told
    ma.sharing.rebalance([a, b])
    mine = ma.scheduled
    ma.sharing.rebalance([])
    ma.sharing.rebalance([b])
    assert ma.scheduled == mine
    assert ma.released == [frozenset(set(sorted(c.name for c in config.checks)) - ma.sharing.fed)]
