"""What a member keeps of the checks others probe (app/shared_results.py), read from a
real PostgreSQL store: the newest result of each check it does not feed, the runs
seen for the sparklines (each once), and who feeds each check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from sentinel.app.shared_results import SharedResults, Wanted, newest
from sentinel.clock import FakeClock
from sentinel.cluster.membership import Member
from sentinel.cluster.ownership import owners
from sentinel.config import parse_config
from sentinel.store import Store, open_store
from tests.store.test_sqlite import result

CONFIG = """
checks:
  - {name: a, type: tcp, target: "127.0.0.1:1", interval: 10s}
  - {name: b, type: tcp, target: "127.0.0.1:1", interval: 10s}
  - {name: c, type: tcp, target: "127.0.0.1:1", interval: 10s}
  - {name: d, type: tcp, target: "127.0.0.1:1", interval: 10s}
"""
MEMBERS = [Member("m-a", "eu", "1", 9, 0.0, 0.0), Member("m-b", "us", "1", 9, 0.0, 0.0)]


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[Store]:
    s = open_store(postgres_url)
    await s.open()
    yield s
    await s.close()


async def test_the_newest_result_of_each_check_not_fed_here(store: Store) -> None:
    """One refresh keeps a's and b's newest results (c is fed here, d has none), who
    feeds each check; a later refresh records a's new run once, not again after."""
    checks = parse_config(CONFIG, "t.yaml", {}).checks
    shared = SharedResults(store, FakeClock(), lambda: Wanted(checks, frozenset({"c"}), MEMBERS))
    await store.add_results([result("a", 1), result("a", 2, ok=False), result("b", 3)])
    await store.add_results([result("c", 4)])

    assert await shared.refresh() == 2
    assert set(shared.latest) == {"a", "b"}
    assert shared.latest["a"] == result("a", 2, ok=False)
    assert shared.recent.get("a") == [(0.012, False)]
    for name in ("a", "b", "c", "d"):
        prober = shared.prober(name)
        assert prober is not None
        assert prober.id == owners(name, MEMBERS)[0]

    await store.add_results([result("a", 5)])
    await shared.refresh()
    await shared.refresh()
    assert shared.latest["a"] == result("a", 5)
    assert shared.recent.get("a") == [(0.012, False), (0.012, True)]


def test_the_newer_of_this_member_s_result_and_the_stored_one_is_shown() -> None:
    """A check that moved away: this member's last run is older than the new owner's."""
    mine, theirs = result("a", 1), result("a", 2)
    assert newest(mine, {"a": theirs}, "a") == (theirs, False)
    assert newest(theirs, {"a": mine}, "a") == (theirs, True)
    assert newest(mine, {}, "a") == (mine, True)
    assert newest(None, {}, "a") == (None, False)
    later = result("a", 1)
    assert newest(later, {"a": mine}, "a") == (later, True)  # a tie: this member's own
    assert theirs.started_at - mine.started_at == timedelta(minutes=1)
