"""Several replicas, the escalator's side of a handover (docs/scaling.md), on a fake
clock with two members' escalators on one store and an in-memory claims table in
place of PostgreSQL's (sentinel/cluster/claims.py, tested on the real database in
tests/cluster/test_claims.py): a resolution seen by a member that does not hold the
escalation is retried each tick until it does; a member that lets go of an alert
(its check moved) frees the claim at once, and the new holder goes on from the
stored progress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from sentinel import __version__
from sentinel.clock import FakeClock
from sentinel.config.models import Config
from sentinel.escalation.escalator import Escalator, Live
from sentinel.metrics import Metrics
from sentinel.notify.base import AlertFacts
from sentinel.notify.dispatcher import Dispatcher
from sentinel.probes.results import LatestResults
from sentinel.store.sqlite import SqliteStore

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
FP = "fp-api-down"


class Table:
    """The cluster's alert claims: one holder per alert, until released or lapsed."""

    def __init__(self) -> None:
        self.holder: dict[str, str] = {}


class Gate:
    """A member's view of :class:`Table`, as sentinel.cluster.claims.Claims gives it."""

    def __init__(self, me: str, table: Table) -> None:
        self.me = me
        self.table = table
        self.held: set[str] = set()

    def acting(self) -> bool:
        return True

    async def hold(self, fingerprints: list[str]) -> tuple[set[str], set[str]]:
        got = {fp for fp in fingerprints if self.table.holder.setdefault(fp, self.me) == self.me}
        gained = got - self.held
        self.held = (self.held - set(fingerprints)) | got
        return got, gained

    async def release(self, fingerprints: list[str]) -> None:
        for fp in fingerprints:
            if self.table.holder.get(fp) == self.me:
                del self.table.holder[fp]
        self.held -= set(fingerprints)


@dataclass
class Members:
    clock: FakeClock
    store: SqliteStore
    table: Table
    a: Escalator
    b: Escalator

    async def kinds(self) -> list[tuple[str, int]]:
        rows = await self.store.deliveries_for(FP)
        return sorted((d.notice.kind, d.notice.step) for d in rows)


@pytest.fixture
async def members() -> AsyncIterator[Members]:
    config = Config.model_validate(
        {
            "channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/h"}},
            "escalation": {
                "critical": [
                    {"after": "0s", "notify": ["hook"]},
                    {"after": "60s", "notify": ["hook"]},
                ]
            },
        }
    )
    clock = FakeClock(T0)
    store = SqliteStore(":memory:")
    await store.open()
    table = Table()
    out = []
    for me in ("a", "b"):
        metrics = Metrics(CollectorRegistry(), LatestResults(), __version__)
        dispatcher = Dispatcher(store, clock, metrics, config.notifications)  # never started
        esc = Escalator(config, store, dispatcher, clock, metrics)
        esc.gate = Gate(me, table)
        out.append(esc)
    try:
        yield Members(clock, store, table, out[0], out[1])
    finally:
        await store.close()


def live() -> dict[str, Live]:
    facts = AlertFacts(FP, "ApiDown", "api", "critical", since=T0.timestamp())
    return {FP: Live(facts=facts, quiet=None, flapping=False, policy=None)}


async def test_a_resolution_seen_while_another_member_escalates_is_sent_once_it_can(
    members: Members,
) -> None:
    m = members
    await m.a.tick(live())
    assert await m.kinds() == [("firing", 0)]
    await m.b.resolved(FP)  # the check moved to b, which saw it end; a still holds it
    await m.b.tick({})
    assert await m.kinds() == [("firing", 0)]
    assert FP in m.b.handed
    del m.table.holder[FP]  # a no longer sees the alert: its claim lapses
    await m.b.tick({})
    assert await m.kinds() == [("firing", 0), ("resolved", 0)]
    await m.b.tick({})
    assert m.b.handed == set()
    assert FP not in m.table.holder


async def test_a_member_letting_go_frees_the_claim_and_the_next_holder_goes_on(
    members: Members,
) -> None:
    m = members
    await m.a.tick(live())
    assert m.table.holder == {FP: "a"}
    await m.a.let_go([FP])  # its check moved to b
    assert m.table.holder == {}
    assert FP not in m.a.progress
    await m.clock.advance(61)
    await m.b.tick(live())  # b took the check (and the alert) over
    assert m.table.holder == {FP: "b"}
    assert await m.kinds() == [("escalation", 1), ("firing", 0)]  # on time, no new page
