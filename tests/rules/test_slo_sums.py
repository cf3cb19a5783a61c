"""The SLO counters' running window sums (issue 19's cost bar): for any sequence of runs,
on time or late, with gaps of any length, and reads of any window at any time, the
incrementally kept sums equal the buckets summed afresh."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.rules.slo import MINUTE_SPAN, Counters, Ring

FIXED = settings(derandomize=True, deadline=None, max_examples=300)

# (seconds the clock moves on, how late the runs are, good, how many runs (a ratio SLO
# counts many events at once: the ring's counts widen), reads: (buckets back, count))
Step = tuple[int, int, bool, int, list[tuple[int, int]]]

steps = st.lists(
    st.tuples(
        st.one_of(
            st.integers(0, 90), st.sampled_from([600, 1900, 2500, 4000]), st.integers(0, 5000)
        ),
        st.one_of(st.just(0), st.integers(0, 400), st.sampled_from([1800, 2400, 9999])),
        st.booleans(),
        st.sampled_from([1, 1, 1, 1, 3, 200, 70_000]),
        st.lists(st.tuples(st.integers(-40, 6), st.integers(1, 45)), max_size=4),
    ),
    max_size=120,
)


def plain(kept: dict[int, list[int]], ring: Ring, index: int, count: int) -> tuple[int, int]:
    """The original definition: buckets index - count + 1 .. index the ring still holds
    (newer than head - size, not after head), summed from every run it took."""
    if ring.head is None:
        return 0, 0
    low, high = max(index - count + 1, ring.head - ring.size + 1), min(index, ring.head)
    inside = [kept.get(i, [0, 0]) for i in range(low, high + 1)]
    return sum(g for g, _ in inside), sum(t for _, t in inside)


@FIXED
@given(
    size=st.integers(1, 40),
    offset=st.sampled_from([0, 30]),
    packed=st.booleans(),
    running=st.booleans(),
    script=steps,
)
def test_running_sums_equal_a_fresh_sum_for_any_sequence(
    size: int, offset: int, packed: bool, running: bool, script: list[Step]
) -> None:
    ring = Ring(60, size, offset, packed, running)
    kept: dict[int, list[int]] = {}  # bucket index -> [good, total] of the runs taken
    now = 10_000.0
    for moved, late, good, runs, reads in script:
        now += moved
        at = now - late
        if ring.add(at, runs if good else 0, runs):
            bucket = kept.setdefault(ring.index(at), [0, 0])
            bucket[0] += runs if good else 0
            bucket[1] += runs
        for back, count in reads:  # back < 0: a read after the newest bucket
            index = ring.index(now) - back
            assert ring.last(index, count) == plain(kept, ring, index, count)
            assert ring.last(index, count) == ring._range(index - count + 1, index)


@FIXED
@given(
    runs=st.lists(
        st.tuples(st.integers(0, 400), st.integers(0, 3 * 3600), st.booleans()), max_size=80
    ),
    spans=st.lists(st.sampled_from([60, 300, 1800, 3600, MINUTE_SPAN, 3 * 86400]), max_size=6),
)
def test_counters_read_the_same_windows_as_counters_loaded_afresh(
    runs: list[tuple[int, int, bool]], spans: list[int]
) -> None:
    """Counters read often (their running sums kept up) and counters loaded from the
    same minutes and read once (summed afresh) agree on every window."""
    read_often, minutes = Counters(4 * 86400.0), Counters(4 * 86400.0)
    stored: dict[int, tuple[int, int]] = {}  # minute -> (good, total), as the store keeps
    now = 1_000_000.0
    for moved, late, good in runs:
        now += moved
        read_often.add(now - late, good)
        for span in spans:
            read_often.sums(now, span)
        for minute, good_runs, total in read_often.take_dirty():  # each minute, in the daemon
            stored[minute] = (good_runs, total)
    for minute in sorted(stored):
        minutes.load(minute, *stored[minute])
    for span in (*spans, 300, 3600, 3 * 86400):
        assert read_often.sums(now, span) == minutes.sums(now, span), span


@pytest.mark.parametrize("packed", [False, True])
def test_counts_start_at_one_byte_and_widen_keeping_every_bucket(packed: bool) -> None:
    ring = Ring(60, 10, packed=packed)
    for minute in range(10):
        ring.add(minute * 60, 1, 2)
    ring.add(10 * 60, 0, 0)  # the ninth minute is finished: in its cell
    assert ring.width == 1
    ring.add(9 * 60, 100, 300)  # 302 runs in a finished bucket: over 255
    assert ring.width == 4
    ring.add(8 * 60, 70_000, 70_000)  # over 65,535
    assert ring.width == 8
    assert [ring.bucket(m) for m in range(1, 11)] == [(1, 2)] * 7 + [
        (70_001, 70_002),
        (101, 302),
        (0, 0),
    ]
    assert ring.sums(10 * 60, 600) == (70_109, 70_318)
