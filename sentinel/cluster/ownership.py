"""Which live members probe which check: rendezvous (highest random weight) hashing.

Every member computes the same answer from the same live member list and no
message: each (member, check) pair gets a weight from a stable hash, and a
check's owners are its highest-weight members. A member joining takes from
each check only what it now wins; a member leaving hands only its own checks
on, each to its runner-up, so a change of membership moves 1/N of the checks
and nothing else (docs/scaling.md, "Checks across members").

    weight(member, check)                      -> 64-bit weight (blake2b, never hash())
    owners(check, members, replicas, locations) -> member ids, the primary first
    Ownership                                  -> the checks one member owns, kept per member set

With ``locations``, a check has one owner per named location: the
highest-weight live member there (a location with no live member has none, and
its view of the check is then unknown). Without, the top ``replicas`` members.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


class Placed(Protocol):
    """What ownership reads of a member (cluster/membership.py's Member has both)."""

    @property
    def id(self) -> str: ...

    @property
    def location(self) -> str: ...


def weight(member_id: str, check_id: str) -> int:
    """The pair's weight: the same on every host and in every process (Python's hash()
    is salted per process, so two members would disagree)."""
    text = f"{member_id}\x1f{check_id}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def ranked(check_id: str, members: Iterable[Placed]) -> list[Placed]:
    """``members`` by weight for ``check_id``, the highest first (ties by id, which a
    64-bit hash makes academic, but the order must be total to be the same everywhere)."""
    return sorted(members, key=lambda m: (weight(m.id, check_id), m.id), reverse=True)


def owners(
    check_id: str,
    members: Sequence[Placed],
    replicas: int = 1,
    locations: Sequence[str] | None = None,
) -> list[str]:
    """The ids of the members that probe ``check_id``, the primary (who combines the
    locations' views and feeds the rules) first.

    With ``locations``: the highest-weight member of each location, in the order the
    locations are listed, skipping a location without live members. Else the top
    ``replicas`` members (fewer when fewer are live)."""
    order = ranked(check_id, members)
    if not locations:
        return [m.id for m in order[: max(1, replicas)]]
    out: list[str] = []
    for location in locations:
        best = next((m for m in order if m.location == location), None)
        if best is not None:
            out.append(best.id)
    # The primary is the overall winner among the chosen, so that it does not depend
    # on the order the locations are written in.
    return sorted(out, key=lambda i: (weight(i, check_id), i), reverse=True)


@dataclass(frozen=True, slots=True)
class Alone:
    """A member by itself (before its first heartbeat says who else is live)."""

    id: str
    location: str


@dataclass(frozen=True, slots=True)
class Spec:
    """What ownership needs of a check's config."""

    name: str
    replicas: int = 1
    locations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    """One member's share: the checks it probes, and those it is primary for."""

    probes: frozenset[str]
    primary: frozenset[str]


def assign(me: str, checks: Iterable[Spec], members: Sequence[Placed]) -> Assignment:
    """The checks ``me`` probes and the ones it is the primary owner of."""
    probes: set[str] = set()
    primary: set[str] = set()
    for spec in checks:
        chosen = owners(spec.name, members, spec.replicas, spec.locations or None)
        if me in chosen:
            probes.add(spec.name)
            if chosen[0] == me:
                primary.add(spec.name)
    return Assignment(frozenset(probes), frozenset(primary))


def shares(checks: Iterable[Spec], members: Sequence[Placed]) -> dict[str, int]:
    """How many checks each member probes (for the API, the bench and the tests)."""
    counts = {m.id: 0 for m in members}
    for spec in checks:
        for owner in owners(spec.name, members, spec.replicas, spec.locations or None):
            counts[owner] += 1
    return counts


class Ownership:
    """The share of one member, recomputed when the live member set or the checks change.

    ``owns(name)`` is a set lookup: the runner consults it on every run. ``gained``
    after an update lists the checks this member took over (their rule state is
    then adopted from the shared store)."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.assignment = Assignment(frozenset(), frozenset())
        self.rebalances = 0
        self._key: tuple[tuple[tuple[str, str], ...], tuple[Spec, ...]] | None = None

    def update(self, checks: Sequence[Spec], members: Sequence[Placed]) -> frozenset[str]:
        """Recompute for ``members`` (the live ones); returns the checks newly taken
        over (empty when nothing changed)."""
        key = (tuple(sorted((m.id, m.location) for m in members)), tuple(checks))
        if key == self._key:
            return frozenset()
        first = self._key is None or not self._key[0]  # the first share with members
        self._key = key
        before = self.assignment.probes
        self.assignment = assign(self.me, checks, members)
        if not first:
            self.rebalances += 1
        return frozenset() if first else self.assignment.probes - before

    def forget(self) -> None:
        """The next update recomputes even for the same key (the checks were reloaded)."""
        self._key = None

    def owns(self, name: str) -> bool:
        return name in self.assignment.probes

    def is_primary(self, name: str) -> bool:
        return name in self.assignment.primary
