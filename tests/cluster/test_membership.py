"""Membership decisions on a fake timeline: who is live, whether our lease holds."""

from __future__ import annotations

from sentinel.clock import FakeClock
from sentinel.cluster.membership import (
    Member,
    Membership,
    lease_held,
    live_members,
    new_member_id,
)


def member(mid: str, heartbeat: float, connected: bool = True) -> Member:
    return Member(mid, "eu", "1.0", 5, 0.0, heartbeat, connected)


def test_live_members_are_the_fresh_connected_ones_sorted_by_id() -> None:
    """A heartbeat older than the lease, or a closed session, means dead; order is by id."""
    rows = [member("c", 100.0), member("a", 90.0), member("b", 84.9), member("d", 99.0, False)]
    assert [m.id for m in live_members(rows, 100.0, 15.0)] == ["a", "c"]
    assert [m.id for m in live_members(rows, 105.0, 15.0)] == ["c"]
    assert live_members(rows, 115.0, 15.0) == []


def test_lease_held_until_the_lease_minus_margin_from_the_renewal_start() -> None:
    """Our lease runs from when the renewal began, and we give up the margin early."""
    assert lease_held(10.0, 10.0, 15.0, 1.0)
    assert lease_held(10.0, 23.9, 15.0, 1.0)
    assert not lease_held(10.0, 24.0, 15.0, 1.0)
    assert not lease_held(None, 10.0, 15.0, 1.0)


def test_member_ids_are_unique_per_start() -> None:
    """hostname-pid-random: a pod restarted with the same name and pid gets a new id."""
    a, b = new_member_id("pod", 1), new_member_id("pod", 1)
    assert a.startswith("pod-1-")
    assert a != b


def test_single_membership_is_one_healthy_leader_and_tells_listeners_of_changes() -> None:
    """SQLite: one member, always healthy; a change of view bumps version and calls back."""
    clock = FakeClock()
    me = member("me", clock.now().timestamp())
    m = Membership(me, clock)
    assert m.live() == [me]
    assert (m.healthy, m.acting, m.leader, m.clustered) == (True, True, True, False)
    told: list[int] = []
    m.subscribe(lambda: told.append(m.version))
    assert not m._update([me], True, True, True)
    assert m._update([], False, False, True)
    assert told == [1]
    assert (m.healthy, m.acting, m.leader) == (False, False, False)
