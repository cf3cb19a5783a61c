"""Rendezvous hashing: who probes which check (sentinel/cluster/ownership.py)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.cluster.ownership import Ownership, Spec, assign, owners, shares, weight


@dataclass(frozen=True)
class M:
    """A stand-in for cluster/membership.py's Member: what ownership reads."""

    id: str
    location: str = "default"


CHECKS = [f"check-{i}" for i in range(3000)]
ids = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12),
    min_size=2,
    max_size=8,
    unique=True,
)


def test_weight_is_stable_across_processes() -> None:
    """The weight is the same in another interpreter (no salted hash())."""
    code = "from sentinel.cluster.ownership import weight; print(weight('m1', 'api'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert int(out) == weight("m1", "api")


@given(ids)
@settings(max_examples=30, deadline=None)
def test_leaving_moves_only_the_leavers_checks(member_ids: list[str]) -> None:
    """A member leaving hands on only its own checks; every other check keeps its owner."""
    members = [M(i) for i in member_ids]
    before = {c: owners(c, members)[0] for c in CHECKS[:500]}
    gone = members[0]
    after = {c: owners(c, members[1:])[0] for c in CHECKS[:500]}
    moved = {c for c in before if before[c] != after[c]}
    assert moved == {c for c in before if before[c] == gone.id}


@given(ids, st.text("xyz", min_size=1, max_size=5))
@settings(max_examples=30, deadline=None)
def test_joining_takes_only_what_the_newcomer_wins(member_ids: list[str], new: str) -> None:
    """A member joining takes checks only for itself: no check moves between the others."""
    members = [M(i) for i in member_ids if i != new]
    joined = [*members, M(new)]
    for c in CHECKS[:500]:
        old, now = owners(c, members)[0], owners(c, joined)[0]
        assert now in (old, new)


@given(ids)
@settings(max_examples=20, deadline=None)
def test_deterministic_whatever_the_order(member_ids: list[str]) -> None:
    """Every member computes the same owners from the same set, in any order."""
    members = [M(i) for i in member_ids]
    shuffled = list(reversed(members))
    for c in CHECKS[:200]:
        assert owners(c, members, 2) == owners(c, shuffled, 2)


def test_balance_within_20_percent_of_even() -> None:
    """3,000 checks over 3 members: each probes within 20% of 1,000."""
    members = [M("sentinel-a"), M("sentinel-b"), M("sentinel-c")]
    counts = shares([Spec(c) for c in CHECKS], members)
    assert sum(counts.values()) == 3000
    for n in counts.values():
        assert 800 <= n <= 1200, counts


@given(ids)
@settings(max_examples=10, deadline=None)
def test_balance_for_any_ids(member_ids: list[str]) -> None:
    """Balance holds for arbitrary member ids, not just nice ones."""
    members = [M(i) for i in member_ids]
    counts = shares([Spec(c) for c in CHECKS], members)
    even = 3000 / len(members)
    assert all(abs(n - even) <= 0.2 * even for n in counts.values()), counts


def test_replicas_are_distinct_and_start_with_the_single_owner() -> None:
    """replicas: 2 gives two different members, the first being the replicas: 1 owner."""
    members = [M(f"m{i}") for i in range(4)]
    for c in CHECKS[:300]:
        two = owners(c, members, 2)
        assert len(set(two)) == 2
        assert two[0] == owners(c, members, 1)[0]
    assert len(owners("x", members[:1], 3)) == 1  # fewer live than asked: all of them


def test_one_owner_per_location_and_none_for_an_empty_location() -> None:
    """With locations: the best member of each listed location; an empty one is skipped."""
    members = [M("a1", "eu"), M("a2", "eu"), M("b1", "us"), M("c1", "ap")]
    for c in CHECKS[:300]:
        chosen = owners(c, members, locations=["eu", "us"])
        assert len(chosen) == 2
        assert {next(m.location for m in members if m.id == i) for i in chosen} == {"eu", "us"}
        eu = max((m for m in members if m.location == "eu"), key=lambda m: weight(m.id, c))
        assert eu.id in chosen
    assert owners("api", members, locations=["eu", "mars"]) == owners("api", members[:2], 1)


def test_primary_does_not_depend_on_the_order_locations_are_written() -> None:
    """[eu, us] and [us, eu] name the same primary."""
    members = [M("a1", "eu"), M("b1", "us")]
    for c in CHECKS[:100]:
        assert owners(c, members, locations=["eu", "us"]) == owners(
            c, members, locations=["us", "eu"]
        )


def test_assign_primary_and_probes() -> None:
    """A member probes what it owns and is primary where it comes first."""
    members = [M("a1", "eu"), M("b1", "us")]
    specs = [Spec(c, locations=("eu", "us")) for c in CHECKS[:100]]
    a, b = assign("a1", specs, members), assign("b1", specs, members)
    assert a.probes == b.probes == {s.name for s in specs}
    assert a.primary | b.primary == a.probes
    assert not a.primary & b.primary


def test_ownership_reports_what_it_took_over() -> None:
    """update() returns the checks newly owned after a change, nothing when unchanged."""
    specs = [Spec(c) for c in CHECKS[:600]]
    a, b, c = M("a"), M("b"), M("c")
    own = Ownership("a")
    assert own.update(specs, [a, b, c]) == frozenset()  # the first share is not a takeover
    first = own.assignment.probes
    assert own.update(specs, [c, b, a]) == frozenset()  # same set, another order
    assert own.rebalances == 0
    gained = own.update(specs, [a, b])
    assert own.rebalances == 1
    assert gained == {s.name for s in specs if owners(s.name, [a, b, c])[0] == "c"} & (
        own.assignment.probes
    )
    assert own.assignment.probes == first | gained
    assert all(own.owns(n) for n in gained)
