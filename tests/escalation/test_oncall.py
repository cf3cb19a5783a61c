"""On call as timelines: who holds the pager at each instant, across DST changes and overrides."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.config.models import Rotation
from sentinel.escalation.oncall import Handoff, handoffs, on_call

WEEKLY_LONDON: dict[str, Any] = {  # the spec's primary schedule, without its override
    "rotation": ["alice", "bob"],
    "shift": "1w",
    "handoff": "2026-01-05T09:00:00",
    "timezone": "Europe/London",
}
DAILY_LONDON_0130: dict[str, Any] = {  # 01:30 does not exist on 29 March and repeats on 25 October
    "rotation": ["alice", "bob", "carol"],
    "shift": "1d",
    "handoff": "2026-03-01T01:30:00",
    "timezone": "Europe/London",
}
WEEKLY_NEW_YORK: dict[str, Any] = {
    "rotation": ["alice", "bob"],
    "shift": "1w",
    "handoff": "2026-03-02T10:00:00",
    "timezone": "America/New_York",
}
TWELVE_HOURS_LONDON: dict[str, Any] = {
    "rotation": ["alice", "bob"],
    "shift": "12h",
    "handoff": "2026-03-28T09:00:00",
    "timezone": "Europe/London",
}
TWELVE_HOURS_NEW_YORK: dict[str, Any] = {
    "rotation": ["alice", "bob"],
    "shift": "12h",
    "handoff": "2026-10-31T08:00:00",
    "timezone": "America/New_York",
}


def rotation(base: dict[str, Any], **changes: Any) -> Rotation:
    return Rotation.model_validate({**base, **changes})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def override(who: str, start: str, until: str) -> dict[str, str]:
    return {"who": who, "from": start, "until": until}


@pytest.mark.parametrize(
    ("schedule", "at", "who"),
    [
        # Weekly, London, Monday 09:00 local: GMT until 29 March, BST after, GMT from 25 October.
        pytest.param(WEEKLY_LONDON, "2026-01-05T09:00:00", "alice", id="first-handoff"),
        pytest.param(WEEKLY_LONDON, "2026-01-12T08:59:59", "alice", id="last-second-of-week-1"),
        pytest.param(WEEKLY_LONDON, "2026-01-12T09:00:00", "bob", id="week-2"),
        pytest.param(WEEKLY_LONDON, "2026-03-30T07:59:59", "bob", id="spring-before-0900-bst"),
        pytest.param(WEEKLY_LONDON, "2026-03-30T08:00:00", "alice", id="spring-0900-bst-is-0800z"),
        pytest.param(WEEKLY_LONDON, "2026-10-26T08:59:59", "bob", id="autumn-before-0900-gmt"),
        pytest.param(WEEKLY_LONDON, "2026-10-26T09:00:00", "alice", id="autumn-0900-gmt-is-0900z"),
        # Daily at 01:30 London: the 29 March handoff falls in the gap and is read as
        # 01:30 GMT (02:30 BST); the 25 October one means the first 01:30 (BST).
        pytest.param(DAILY_LONDON_0130, "2026-03-29T01:29:59", "alice", id="gap-day-before"),
        pytest.param(DAILY_LONDON_0130, "2026-03-29T01:30:00", "bob", id="gap-handoff-0230-bst"),
        pytest.param(DAILY_LONDON_0130, "2026-03-30T00:29:59", "bob", id="gap-shift-is-23h"),
        pytest.param(DAILY_LONDON_0130, "2026-03-30T00:30:00", "carol", id="after-gap-0130-bst"),
        pytest.param(DAILY_LONDON_0130, "2026-10-25T00:29:59", "alice", id="repeat-day-before"),
        pytest.param(DAILY_LONDON_0130, "2026-10-25T00:30:00", "bob", id="repeat-first-0130"),
        pytest.param(DAILY_LONDON_0130, "2026-10-25T01:30:00", "bob", id="repeat-second-0130"),
        pytest.param(DAILY_LONDON_0130, "2026-10-26T01:29:59", "bob", id="repeat-shift-is-25h"),
        pytest.param(DAILY_LONDON_0130, "2026-10-26T01:30:00", "carol", id="after-repeat"),
        # Weekly, New York, Monday 10:00 local: EDT from 8 March, EST from 1 November.
        pytest.param(WEEKLY_NEW_YORK, "2026-03-02T15:00:00", "alice", id="ny-first-est"),
        pytest.param(WEEKLY_NEW_YORK, "2026-03-09T13:59:59", "alice", id="ny-spring-before"),
        pytest.param(WEEKLY_NEW_YORK, "2026-03-09T14:00:00", "bob", id="ny-spring-1000-edt"),
        pytest.param(WEEKLY_NEW_YORK, "2026-11-02T14:59:59", "alice", id="ny-autumn-before"),
        pytest.param(WEEKLY_NEW_YORK, "2026-11-02T15:00:00", "bob", id="ny-autumn-1000-est"),
        # 12h shifts count absolute time: the local start moves by the hour of the change.
        pytest.param(TWELVE_HOURS_LONDON, "2026-03-28T21:00:00", "bob", id="12h-second-shift"),
        pytest.param(TWELVE_HOURS_LONDON, "2026-03-29T08:59:59", "bob", id="12h-spring-before"),
        pytest.param(TWELVE_HOURS_LONDON, "2026-03-29T09:00:00", "alice", id="12h-now-1000-bst"),
        pytest.param(TWELVE_HOURS_NEW_YORK, "2026-11-01T11:59:59", "bob", id="12h-ny-before"),
        pytest.param(TWELVE_HOURS_NEW_YORK, "2026-11-01T12:00:00", "alice", id="12h-ny-0700-est"),
        # Before the first handoff the rotation runs backwards, DST included.
        pytest.param(WEEKLY_LONDON, "2026-01-05T08:59:59", "bob", id="back-one-second"),
        pytest.param(WEEKLY_LONDON, "2025-12-29T08:59:59", "alice", id="back-two-weeks"),
        pytest.param(WEEKLY_LONDON, "2025-10-20T07:59:59", "alice", id="back-before-0900-bst"),
        pytest.param(WEEKLY_LONDON, "2025-10-20T08:00:00", "bob", id="back-0900-bst"),
        pytest.param(WEEKLY_LONDON, "2025-10-27T08:59:59", "bob", id="back-before-0900-gmt"),
        pytest.param(WEEKLY_LONDON, "2025-10-27T09:00:00", "alice", id="back-0900-gmt"),
        pytest.param(TWELVE_HOURS_LONDON, "2026-03-28T08:59:59", "bob", id="back-12h"),
    ],
)
def test_rotation_timeline(schedule: dict[str, Any], at: str, who: str) -> None:
    """At each UTC instant the rotation names the contact its local handoffs say."""
    assert on_call(rotation(schedule), utc(at)) == who


def test_aware_handoff_counts_in_local_wall_time() -> None:
    """An aware handoff (09:00Z in January) still means 09:00 London after the spring change."""
    schedule = rotation(WEEKLY_LONDON, handoff="2026-01-05T09:00:00+00:00")
    assert on_call(schedule, utc("2026-03-30T07:59:59")) == "bob"
    assert on_call(schedule, utc("2026-03-30T08:00:00")) == "alice"


def test_at_in_any_zone_is_the_same_instant() -> None:
    """10:00 BST and 09:00Z are one instant and one answer."""
    bst = datetime.fromisoformat("2026-03-30T09:00:00+01:00")
    assert on_call(rotation(WEEKLY_LONDON), bst) == on_call(
        rotation(WEEKLY_LONDON), utc("2026-03-30T08:00:00")
    )


def test_naive_at_is_refused() -> None:
    """A naive time is ambiguous, so on_call refuses it instead of guessing."""
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(rotation(WEEKLY_LONDON), utc("2026-03-30T08:00:00").replace(tzinfo=None))


CHRISTMAS = rotation(
    WEEKLY_LONDON, overrides=[override("bob", "2026-12-24T09:00:00", "2026-12-27T09:00:00")]
)


@pytest.mark.parametrize(
    ("at", "who"),
    [
        pytest.param("2026-12-24T08:59:59", "alice", id="before-from"),
        pytest.param("2026-12-24T09:00:00", "bob", id="from-is-inclusive"),
        pytest.param("2026-12-27T08:59:59", "bob", id="last-second"),
        pytest.param("2026-12-27T09:00:00", "alice", id="until-is-exclusive"),
        pytest.param("2026-12-28T09:00:00", "bob", id="rotation-carries-on"),
    ],
)
def test_override_boundaries(at: str, who: str) -> None:
    """The spec's Christmas override: bob from 24 Dec 09:00 (inclusive) to 27 Dec 09:00 (exclusive)."""
    assert on_call(CHRISTMAS, utc(at)) == who


@pytest.mark.parametrize(
    ("order", "timeline"),
    [
        pytest.param(
            "carol-then-dave",
            {"10:59": "bob", "11:00": "carol", "12:00": "dave", "13:00": "carol", "14:00": "bob"},
            id="later-inner-wins",
        ),
        pytest.param(
            "dave-then-carol",
            {"10:59": "bob", "11:00": "carol", "12:00": "carol", "13:00": "carol", "14:00": "bob"},
            id="later-outer-hides-inner",
        ),
    ],
)
def test_overlapping_overrides_later_wins(order: str, timeline: dict[str, str]) -> None:
    """In bob's week carol covers 11:00-14:00Z, dave 12:00-13:00Z; the later in the list wins."""
    carol = override("carol", "2026-06-01T12:00:00", "2026-06-01T15:00:00")  # BST, naive = local
    dave = override("dave", "2026-06-01T12:00:00+00:00", "2026-06-01T13:00:00Z")  # aware
    listed = [carol, dave] if order == "carol-then-dave" else [dave, carol]
    schedule = rotation(WEEKLY_LONDON, overrides=listed)
    for hhmm, who in timeline.items():
        assert on_call(schedule, utc(f"2026-06-01T{hhmm}:00")) == who, hhmm


def test_one_person_rotation() -> None:
    """A rotation of one is always that person, before and after its handoff."""
    schedule = rotation(WEEKLY_LONDON, rotation=["alice"])
    for at in ("2020-01-01T00:00:00", "2026-01-05T09:00:00", "2026-10-25T01:30:00"):
        assert on_call(schedule, utc(at)) == "alice"
    assert handoffs(schedule, utc("2026-01-01T00:00:00")) == []


def test_one_person_rotation_hands_off_only_for_overrides() -> None:
    """A rotation of one changes hands only at an override's edges: two handoffs, not three."""
    schedule = rotation(
        WEEKLY_LONDON,
        rotation=["alice"],
        overrides=[override("bob", "2026-12-24T09:00:00", "2026-12-27T09:00:00")],
    )
    assert handoffs(schedule, utc("2026-01-01T00:00:00")) == [
        Handoff(utc("2026-12-24T09:00:00"), "bob", "override start"),
        Handoff(utc("2026-12-27T09:00:00"), "alice", "override end"),
    ]


def test_handoffs_weekly_across_the_spring_change() -> None:
    """From 20 March: bob on the 23rd at 09:00 GMT, then alice and bob at 09:00 BST (08:00Z)."""
    assert handoffs(rotation(WEEKLY_LONDON), utc("2026-03-20T00:00:00")) == [
        Handoff(utc("2026-03-23T09:00:00"), "bob", "rotation"),
        Handoff(utc("2026-03-30T08:00:00"), "alice", "rotation"),
        Handoff(utc("2026-04-06T08:00:00"), "bob", "rotation"),
    ]


def test_handoffs_around_the_christmas_override() -> None:
    """The override starts and ends inside alice's week, then the rotation goes on."""
    assert handoffs(CHRISTMAS, utc("2026-12-21T09:00:00"), count=4) == [
        Handoff(utc("2026-12-24T09:00:00"), "bob", "override start"),
        Handoff(utc("2026-12-27T09:00:00"), "alice", "override end"),
        Handoff(utc("2026-12-28T09:00:00"), "bob", "rotation"),
        Handoff(utc("2027-01-04T09:00:00"), "alice", "rotation"),
    ]


def test_handoffs_are_strictly_after_at() -> None:
    """A handoff exactly at ``at`` has already happened: the next one is a week later."""
    assert handoffs(rotation(WEEKLY_LONDON), utc("2026-01-05T09:00:00"), count=1) == [
        Handoff(utc("2026-01-12T09:00:00"), "bob", "rotation")
    ]


def test_handoffs_skip_edges_that_change_nobody() -> None:
    """An override for the person already on call, and a boundary inside an override, are no handoffs."""
    schedule = rotation(
        WEEKLY_LONDON,
        overrides=[
            override("alice", "2026-01-06T09:00:00", "2026-01-07T09:00:00"),  # alice's own week
            override("carol", "2026-01-10T09:00:00", "2026-01-14T09:00:00"),  # spans 12 Jan
        ],
    )
    assert handoffs(schedule, utc("2026-01-05T09:00:00")) == [
        Handoff(utc("2026-01-10T09:00:00"), "carol", "override start"),
        Handoff(utc("2026-01-14T09:00:00"), "bob", "override end"),
        Handoff(utc("2026-01-19T09:00:00"), "alice", "rotation"),
    ]


def test_override_ending_on_a_handoff_is_one_change() -> None:
    """Carol until Monday's 09:00 handoff: one handoff to bob, told as the override's end."""
    schedule = rotation(
        WEEKLY_LONDON, overrides=[override("carol", "2026-01-09T09:00:00", "2026-01-12T09:00:00")]
    )
    assert handoffs(schedule, utc("2026-01-09T10:00:00"), count=1) == [
        Handoff(utc("2026-01-12T09:00:00"), "bob", "override end")
    ]


def test_handoffs_repeated_names_are_not_changes() -> None:
    """alice, alice, bob: the boundary between alice's two shifts is not a handoff."""
    schedule = rotation(WEEKLY_LONDON, rotation=["alice", "alice", "bob"])
    assert [h.at for h in handoffs(schedule, utc("2026-01-05T09:00:00"), count=2)] == [
        utc("2026-01-19T09:00:00"),
        utc("2026-01-26T09:00:00"),
    ]


def test_handoffs_twelve_hours_across_the_autumn_change() -> None:
    """12h shifts in New York keep 12 hours apart when the clocks go back on 1 November."""
    found = handoffs(rotation(TWELVE_HOURS_NEW_YORK), utc("2026-11-01T00:00:00"))
    assert [(h.at, h.who) for h in found] == [
        (utc("2026-11-01T00:00:00") + timedelta(hours=12), "alice"),
        (utc("2026-11-02T00:00:00"), "bob"),
        (utc("2026-11-02T12:00:00"), "alice"),
    ]


# Properties over arbitrary rotations, zones, shifts, handoffs and overrides.

NAMES = ["alice", "bob", "carol", "dave"]
ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
LOW = datetime(2025, 1, 1, tzinfo=UTC)
HIGH = datetime(2027, 12, 31, tzinfo=UTC)
naive_times = st.datetimes(min_value=LOW.replace(tzinfo=None), max_value=HIGH.replace(tzinfo=None))
aware_times = st.datetimes(
    min_value=LOW.replace(tzinfo=None), max_value=HIGH.replace(tzinfo=None), timezones=st.just(UTC)
)


@st.composite
def rotations(draw: st.DrawFn) -> Rotation:
    overrides = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(naive_times)
        length = draw(st.integers(1, 20 * 86400))
        until = start + timedelta(seconds=length)
        overrides.append(override(draw(st.sampled_from([*NAMES, "eve"])), str(start), str(until)))
    return Rotation.model_validate(
        {
            "rotation": draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4)),
            "shift": draw(
                st.one_of(
                    st.sampled_from([86400, 2 * 86400, 7 * 86400, 14 * 86400]),
                    st.integers(60, 14 * 86400),
                )
            ),
            "handoff": str(draw(naive_times)),
            "timezone": draw(st.sampled_from(ZONES)),
            "overrides": overrides,
        }
    )


@settings(max_examples=300, deadline=None)
@given(rotations(), aware_times)
def test_on_call_is_a_member_or_an_override(schedule: Rotation, at: datetime) -> None:
    """Whoever is on call is in the rotation or named by an override."""
    assert on_call(schedule, at) in {*schedule.rotation, *(o.who for o in schedule.overrides)}


@settings(max_examples=300, deadline=None)
@given(rotations(), aware_times)
def test_handoffs_are_the_changes_of_on_call(schedule: Rotation, at: datetime) -> None:
    """Handoffs come strictly after ``at`` in order, each a real change to its ``who``."""
    found = handoffs(schedule, at)
    times = [at] + [h.at for h in found]
    assert all(a < b for a, b in itertools.pairwise(times))
    previous = on_call(schedule, at)
    for h in found:
        assert h.at.utcoffset() == timedelta(0)
        assert on_call(schedule, h.at) == h.who
        assert on_call(schedule, h.at - timedelta(microseconds=1)) == previous != h.who
        previous = h.who
    if len(set(schedule.rotation)) > 1:
        assert len(found) == 3
