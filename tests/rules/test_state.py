"""The alert state machine as timelines: (holds?, at second) -> state and event."""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.rules.state import AlertState, NoData, advance, step


def run(
    timeline: list[tuple[float, bool | None]],
    for_: float,
    keep: float = 0.0,
    no_data: NoData = "keep",
) -> list[tuple[float, str, str | None]]:
    state = AlertState()
    out: list[tuple[float, str, str | None]] = []
    for now, holds in timeline:
        state, event = step(state, holds, now, for_, keep, no_data)
        out.append((now, state.state, event))
    return out


def test_fires_exactly_when_for_has_elapsed() -> None:
    """for: 1m evaluated every 15 s: pending at 0, firing at 60, not at 45."""
    got = run([(0, True), (15, True), (45, True), (60, True), (75, True)], for_=60)
    assert got == [
        (0, "pending", "pending"),
        (15, "pending", None),
        (45, "pending", None),
        (60, "firing", "firing"),
        (75, "firing", None),
    ]


def test_for_zero_fires_on_the_first_evaluation() -> None:
    """Without for, the first evaluation that holds fires."""
    assert run([(0, True)], for_=0) == [(0, "firing", "firing")]


def test_a_blip_shorter_than_for_never_fires() -> None:
    """Holding for 45 s of a 1 m for, then not: pending, then cleared, no page."""
    got = run([(0, True), (45, True), (60, False)], for_=60)
    assert [e for _, _, e in got] == ["pending", None, "cleared"]


def test_resolves_when_it_stops_holding() -> None:
    """A firing alert resolves at the first evaluation where it no longer holds."""
    got = run([(0, True), (60, True), (120, False)], for_=60)
    assert got[-1] == (120, "inactive", "resolved")


def test_keep_firing_for_holds_through_short_dips() -> None:
    """keep_firing_for: 5m keeps it firing through a 2-minute dip; resolves 5m after it stops."""
    timeline: list[tuple[float, bool | None]] = [(0, True), (60, False), (120, False), (180, True)]
    timeline += [(240 + 60 * i, False) for i in range(6)]
    got = run(timeline, for_=0, keep=300)
    assert [s for _, s, _ in got[:4]] == ["firing"] * 4
    resolved = [t for t, _, e in got if e == "resolved"]
    assert resolved == [540]  # first false at 240, + 300 s


def test_no_data_policies() -> None:
    """keep holds the last truth; resolve ends the alert; fire starts one."""
    firing_then_silent: list[tuple[float, bool | None]] = [(0, True), (60, None), (120, None)]
    assert [s for _, s, _ in run(firing_then_silent, for_=0, no_data="keep")] == ["firing"] * 3
    assert run(firing_then_silent, for_=0, no_data="resolve")[1] == (60, "inactive", "resolved")
    assert run([(0, None)], for_=0, no_data="fire") == [(0, "firing", "firing")]
    assert run([(0, None)], for_=0, no_data="keep") == [(0, "inactive", None)]


@dataclass
class _Held:
    state: AlertState


def test_advance_keeps_an_instance_while_active_and_drops_it_when_inactive() -> None:
    """advance: the instance takes the step's state, stays in the table while pending or
    firing, and leaves it once inactive; the step's event is returned."""
    table: dict[str, _Held] = {}
    inst = _Held(AlertState())
    assert advance(table, "k", inst, step(inst.state, True, 0.0, 30.0)) == "pending"
    assert table == {"k": inst}
    assert inst.state.state == "pending"
    assert advance(table, "k", inst, step(inst.state, True, 10.0, 30.0)) is None
    assert table == {"k": inst}
    assert inst.state.last_true == 10.0
    assert advance(table, "k", inst, step(inst.state, True, 30.0, 30.0)) == "firing"
    assert table == {"k": inst}
    assert inst.state.fired_at == 30.0
    assert advance(table, "k", inst, step(inst.state, False, 40.0, 30.0)) == "resolved"
    assert table == {}
    assert inst.state == AlertState()
    assert advance(table, "k", inst, step(inst.state, False, 50.0, 30.0)) is None
    assert table == {}
