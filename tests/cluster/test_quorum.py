"""Combining the places' views of a check (sentinel/cluster/quorum.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sentinel.cluster.quorum import (
    View,
    bucket,
    decide,
    default_quorum,
    fresh,
    unhealthy_locations,
)

PLACES = ["eu-west", "us-east"]


def view(place: str, ok: bool, k: int = 10, check: str = "api", at: float = 100.0) -> View:
    return View(check, place, k, ok, None if ok else "HTTP 500", at)


def test_one_place_down_one_up_is_up_with_quorum_2() -> None:
    """A bad path from one location pages nobody."""
    d = decide(PLACES, {"eu-west": view("eu-west", False), "us-east": view("us-east", True)}, 2)
    assert d.verdict == "up"
    assert d.down == ("eu-west",)


def test_both_down_is_down() -> None:
    """Down from every place: down, and the reason names them."""
    d = decide(PLACES, {p: view(p, False) for p in PLACES}, 2)
    assert d.verdict == "down"
    assert "down from eu-west, us-east" in d.reason


def test_missing_place_is_unknown_and_lower_follows_the_rest() -> None:
    """A silent location is unknown; by default the others decide."""
    d = decide(PLACES, {"eu-west": view("eu-west", False)}, 2)
    assert d.unknown == ("us-east",)
    assert (d.verdict, d.needed) == ("down", 1)
    d = decide(PLACES, {"eu-west": view("eu-west", True)}, 2)
    assert d.verdict == "up"


def test_missing_place_with_hold_stays_unknown_until_it_can_be_decided() -> None:
    """hold: one down of two needed with one unknown cannot be decided; up can."""
    d = decide(PLACES, {"eu-west": view("eu-west", False)}, 2, "hold")
    assert (d.verdict, d.needed) == ("unknown", 2)
    d = decide(PLACES, {"eu-west": view("eu-west", True)}, 2, "hold")
    assert d.verdict == "up"  # the quorum of two downs cannot be reached any more


def test_nothing_known_is_unknown() -> None:
    """No fresh views at all: unknown, never up or down."""
    assert decide(PLACES, {}, 1).verdict == "unknown"


def test_unhealthy_location_counts_as_unknown() -> None:
    """An unhealthy location's view is left out: it is neither up nor down."""
    views = {"eu-west": view("eu-west", False), "us-east": view("us-east", True)}
    d = decide(PLACES, views, 1, unhealthy={"eu-west"})
    assert d.unknown == ("eu-west",)
    assert d.verdict == "up"


@given(
    st.lists(st.sampled_from(["up", "down", "missing"]), min_size=1, max_size=5),
    st.integers(1, 5),
    st.sampled_from(["lower", "hold"]),
)
def test_never_down_below_quorum_of_reporting_places(
    seen: list[str], quorum: int, missing: str
) -> None:
    """Down needs at least min(quorum, reporting) downs, and never comes from unknowns."""
    places = [f"p{i}" for i in range(len(seen))]
    quorum = min(quorum, len(places))
    views = {p: view(p, s == "up") for p, s in zip(places, seen, strict=True) if s != "missing"}
    d = decide(places, views, quorum, missing)  # type: ignore[arg-type]
    downs = seen.count("down")
    if d.verdict == "down":
        assert downs >= min(quorum, len(views))
        if missing == "hold":
            assert downs >= quorum
    if downs >= quorum:
        assert d.verdict == "down"
    if not views:
        assert d.verdict == "unknown"


def test_default_quorum_is_a_majority() -> None:
    """2 of 2, 2 of 3, 3 of 4."""
    assert [default_quorum(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_bucket_is_the_nearest_due_time() -> None:
    """Runs of the same due time fall in one bucket, a little late or not."""
    assert bucket(100.0, 10.0) == 10
    assert bucket(103.0, 10.0, phase=3.0) == 10
    assert bucket(104.9, 10.0, phase=3.0) == 10  # 1.9 s late
    assert bucket(112.99, 10.0, phase=3.0) == 11


def test_fresh_keeps_the_bucket_and_newer_and_drops_stale() -> None:
    """A view of an older bucket is stale: left out, so the place is unknown."""
    views = [view("eu-west", True, k=9), view("us-east", False, k=10), view("ap", True, k=11)]
    got = fresh(views, 10)
    assert set(got) == {"us-east", "ap"}


def test_location_whose_probes_fail_alone_is_unhealthy() -> None:
    """eu-west sees 4 of 5 checks down that us-east and ap see up: eu-west is unhealthy."""
    views = []
    for i in range(5):
        views.append(view("eu-west", i == 0, check=f"c{i}"))
        views.append(view("us-east", True, check=f"c{i}"))
        views.append(view("ap", True, check=f"c{i}"))
    assert unhealthy_locations(views) == {"eu-west"}


def test_a_real_outage_makes_no_location_unhealthy() -> None:
    """All places seeing the same checks down is an outage, not a bad location."""
    views = [view(p, False, check=f"c{i}") for i in range(5) for p in PLACES]
    assert unhealthy_locations(views) == set()


def test_too_few_checks_to_judge() -> None:
    """Two checks down from one place are those checks' business."""
    views = [view(p, p == "us-east", check=f"c{i}") for i in range(2) for p in PLACES]
    assert unhealthy_locations(views) == set()
