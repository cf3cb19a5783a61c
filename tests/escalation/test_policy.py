"""Escalation decisions: the example matrix as a table, and timelines stepped a minute at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.config.models import Escalation, Step
from sentinel.config.units import format_duration
from sentinel.escalation.policy import (
    KINDS,
    Kind,
    Page,
    Policy,
    PolicyStep,
    Progress,
    acknowledge,
    due,
    mark_notified,
    next_due,
    pause,
    policy_for,
    resolve,
    start,
    unacknowledge,
)
from tests.examples import PROJECT_EXAMPLE

S = 1.0
M = 60.0
H = 3600.0

ONCALL = "oncall:primary"
EMAIL = "email:ops@example.com"
CRITICAL_0 = (ONCALL, "pagerduty", "slack-alerts")
CRITICAL_ALL = (*CRITICAL_0, "eng-lead", "cto", "ceo")
HIGH_0 = ("slack-alerts", EMAIL)
HIGH_ALL = (*HIGH_0, ONCALL, "eng-lead")


def example_escalation() -> Escalation:
    """The `escalation:` section of the example config (the spec's matrix; the copy in
    the project's living copy in config/)."""
    data = yaml.safe_load(PROJECT_EXAMPLE.read_text())
    return Escalation.model_validate(data["escalation"])


EXAMPLE = example_escalation()
CRITICAL = policy_for(EXAMPLE, "critical")
HIGH = policy_for(EXAMPLE, "high")
MEDIUM = policy_for(EXAMPLE, "medium")
LOW = policy_for(EXAMPLE, "low")


def hms(at: float) -> str:
    """Seconds since 0 as a timeline reads: 0s, 15m, 4h20m."""
    return "0s" if at == 0 else format_duration(at)


Sent = tuple[str, Kind, tuple[str, ...]]
"""One notice as a timeline reads it: (when, kind, targets), e.g. ("15m", "escalation", ("cto",))."""


@dataclass
class Timeline:
    """One alert on a fake clock: every action first runs `due` a tick at a time up to its time."""

    progress: Progress
    now: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    @classmethod
    def fire(cls, policy: Policy, at: float = 0.0) -> Timeline:
        t = cls(start("fp-1", policy, at), now=at)
        t.tick(at)
        return t

    def record(self, at: float, pages: list[Page]) -> list[Sent]:
        out = [(hms(at), p.kind, p.targets) for p in pages]
        self.sent += out
        self.pages += pages
        return out

    def tick(self, at: float) -> list[Sent]:
        """One `due` at `at`, checking that `next_due` predicted exactly this."""
        expected = next_due(self.progress)
        self.progress, pages = due(self.progress, at)
        assert bool(pages) == (expected is not None and expected <= at), (at, expected)
        self.now = at
        return self.record(at, pages)

    def run_to(self, until: float, every: float = M) -> list[Sent]:
        """Tick every `every` seconds after the current time, up to and including `until`."""
        out: list[Sent] = []
        at = self.now + every
        while at <= until:
            out += self.tick(at)
            at += every
        return out

    def ack(self, by: str, at: float) -> list[Sent]:
        self.run_to(at)
        self.progress, pages = acknowledge(self.progress, by, at)
        return self.record(at, pages)

    def unack(self, at: float) -> None:
        self.run_to(at)
        self.progress = unacknowledge(self.progress, at)

    def resolve(self, at: float) -> list[Sent]:
        self.run_to(at)
        self.progress, pages = resolve(self.progress, at)
        return self.record(at, pages)

    def pause(self, paused: bool, at: float) -> None:
        self.run_to(at)
        self.progress = pause(self.progress, paused, at)


def sent_so_far(policy: Policy, steps_sent: int) -> Progress:
    """An alert fired at 0 that has sent its first `steps_sent` steps, each on time."""
    p = start("fp-1", policy, 0.0)
    for i in range(steps_sent):
        p = replace(
            mark_notified(p, policy.steps[i].notify),
            next_step=i + 1,
            last_page_at=policy.steps[i].after,
        )
    return p


# --- the matrix of the example config -------------------------------------------------------


def test_example_policies_match_the_spec() -> None:
    """policy_for reads the example's four severities, repeat_every 1h and ack_expires_after 4h."""
    table = {
        name: [(s.after, s.notify) for s in policy.steps]
        for name, policy in {
            "critical": CRITICAL,
            "high": HIGH,
            "medium": MEDIUM,
            "low": LOW,
        }.items()
    }
    assert table == {
        "critical": [(0, CRITICAL_0), (15 * M, ("eng-lead",)), (30 * M, ("cto",)), (H, ("ceo",))],
        "high": [(0, HIGH_0), (15 * M, (ONCALL,)), (30 * M, ("eng-lead",))],
        "medium": [(0, ("slack-alerts",)), (15 * M, (EMAIL,))],
        "low": [(0, (EMAIL,))],
    }
    for policy in (CRITICAL, HIGH, MEDIUM, LOW):
        assert (policy.repeat_every, policy.ack_expires_after) == (H, 4 * H)
    assert CRITICAL.name == "critical"


Due = tuple[Kind, int, tuple[str, ...]]

MATRIX: list[tuple[Policy, int, float, list[Due]]] = [
    # critical: oncall+pagerduty+slack at 0, eng-lead 15m, cto 30m, ceo 1h, then hourly repeats
    (CRITICAL, 0, 0, [("firing", 0, CRITICAL_0)]),
    (CRITICAL, 1, 0, []),
    (CRITICAL, 1, 14 * M, []),
    (CRITICAL, 1, 15 * M, [("escalation", 1, ("eng-lead",))]),
    (CRITICAL, 2, 29 * M, []),
    (CRITICAL, 2, 30 * M, [("escalation", 2, ("cto",))]),
    (CRITICAL, 3, 59 * M, []),
    (CRITICAL, 3, 60 * M, [("escalation", 3, ("ceo",))]),
    (CRITICAL, 4, 119 * M, []),
    (CRITICAL, 4, 120 * M, [("repeat", 3, CRITICAL_ALL)]),
    (CRITICAL, 4, 600 * M, [("repeat", 3, CRITICAL_ALL)]),
    (
        CRITICAL,
        0,
        45 * M,
        [("firing", 0, CRITICAL_0), ("escalation", 1, ("eng-lead",)), ("escalation", 2, ("cto",))],
    ),
    (
        CRITICAL,
        1,
        10 * H,
        [
            ("escalation", 1, ("eng-lead",)),
            ("escalation", 2, ("cto",)),
            ("escalation", 3, ("ceo",)),
        ],
    ),
    # high: slack+email at 0, oncall 15m, eng-lead 30m
    (HIGH, 0, 0, [("firing", 0, HIGH_0)]),
    (HIGH, 1, 14 * M, []),
    (HIGH, 1, 15 * M, [("escalation", 1, (ONCALL,))]),
    (HIGH, 2, 30 * M, [("escalation", 2, ("eng-lead",))]),
    (HIGH, 3, 89 * M, []),
    (HIGH, 3, 90 * M, [("repeat", 2, HIGH_ALL)]),
    (
        HIGH,
        0,
        30 * M,
        [("firing", 0, HIGH_0), ("escalation", 1, (ONCALL,)), ("escalation", 2, ("eng-lead",))],
    ),
    # medium: slack at 0, email 15m
    (MEDIUM, 0, 0, [("firing", 0, ("slack-alerts",))]),
    (MEDIUM, 1, 14 * M, []),
    (MEDIUM, 1, 15 * M, [("escalation", 1, (EMAIL,))]),
    (MEDIUM, 2, 74 * M, []),
    (MEDIUM, 2, 75 * M, [("repeat", 1, ("slack-alerts", EMAIL))]),
    # low: email at 0, nothing else but the hourly repeat
    (LOW, 0, 0, [("firing", 0, (EMAIL,))]),
    (LOW, 1, 59 * M, []),
    (LOW, 1, 60 * M, [("repeat", 0, (EMAIL,))]),
]


@pytest.mark.parametrize(
    ("policy", "steps_sent", "now", "expected"),
    [pytest.param(*row, id=f"{row[0].name}-{row[1]}sent-{hms(row[2])}") for row in MATRIX],
)
def test_matrix(policy: Policy, steps_sent: int, now: float, expected: list[Due]) -> None:
    """(policy, steps sent so far, now) -> exactly the notices due, one per step, in order."""
    _, pages = due(sent_so_far(policy, steps_sent), now)
    assert [(p.kind, p.step, p.targets) for p in pages] == expected


def test_named_policy_wins_over_severity() -> None:
    """A rule's named policy replaces its severity's list; repeat and ack expiry stay global."""
    esc = Escalation.model_validate(
        {
            "critical": [{"after": 0, "notify": ["pagerduty"]}],
            "policies": {"db": [{"after": "5m", "notify": ["dba"]}]},
            "repeat_every": "30m",
            "ack_expires_after": "2h",
        }
    )
    policy = policy_for(esc, "critical", "db")
    assert policy == Policy("db", (PolicyStep(5 * M, ("dba",)),), 30 * M, 2 * H)
    assert policy_for(esc, "critical", None).steps == (PolicyStep(0, ("pagerduty",)),)
    with pytest.raises(KeyError, match="nope"):
        policy_for(esc, "critical", "nope")
    with pytest.raises(KeyError, match="urgent"):
        policy_for(esc, "urgent")


def test_from_steps_sorts_by_delay_and_dedups_targets() -> None:
    """Config steps out of order are sorted (stable); a target listed twice in a step is told once."""
    steps = [
        Step(after=15 * M, notify=["b"]),
        Step(after=0, notify=["a", "a", "c"]),
        Step(after=15 * M, notify=["d"]),
    ]
    policy = Policy.from_steps("p", steps)
    assert policy.steps == (
        PolicyStep(0, ("a", "c")),
        PolicyStep(15 * M, ("b",)),
        PolicyStep(15 * M, ("d",)),
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"steps": (PolicyStep(5, ("a",)), PolicyStep(0, ("b",)))},
        {"steps": (PolicyStep(-1, ("a",)),)},
        {"steps": (), "repeat_every": 0.0},
        {"steps": (), "ack_expires_after": -1.0},
    ],
    ids=["unsorted", "negative-delay", "zero-repeat", "negative-ack-expiry"],
)
def test_policy_rejects_impossible_timings(kwargs: dict[str, object]) -> None:
    """Unsorted or negative delays and a zero repeat (a busy loop) are refused."""
    with pytest.raises(ValueError, match="policy 'p'"):
        Policy("p", **kwargs)  # type: ignore[arg-type]


# --- timelines --------------------------------------------------------------------------------


def test_critical_fires_then_escalates_to_the_lead() -> None:
    """At 0s fires; run to 17m: oncall+pagerduty+slack at 0s, eng-lead at 15m."""
    t = Timeline.fire(CRITICAL)
    t.run_to(17 * M)
    assert t.sent == [("0s", "firing", CRITICAL_0), ("15m", "escalation", ("eng-lead",))]
    assert next_due(t.progress) == 30 * M


def test_critical_whole_chain_then_hourly_repeats() -> None:
    """Unanswered: cto at 30m, ceo at 1h, then everyone told so far every hour after the last step."""
    t = Timeline.fire(CRITICAL)
    t.run_to(3 * H + 59 * M)
    assert t.sent == [
        ("0s", "firing", CRITICAL_0),
        ("15m", "escalation", ("eng-lead",)),
        ("30m", "escalation", ("cto",)),
        ("1h", "escalation", ("ceo",)),
        ("2h", "repeat", CRITICAL_ALL),
        ("3h", "repeat", CRITICAL_ALL),
    ]
    assert t.progress.repeats == 2
    assert t.progress.notified == CRITICAL_ALL


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            HIGH,
            [
                ("0s", "firing", HIGH_0),
                ("15m", "escalation", (ONCALL,)),
                ("30m", "escalation", ("eng-lead",)),
                ("1h30m", "repeat", HIGH_ALL),
            ],
        ),
        (
            MEDIUM,
            [
                ("0s", "firing", ("slack-alerts",)),
                ("15m", "escalation", (EMAIL,)),
                ("1h15m", "repeat", ("slack-alerts", EMAIL)),
            ],
        ),
        (LOW, [("0s", "firing", (EMAIL,)), ("1h", "repeat", (EMAIL,))]),
    ],
    ids=["high", "medium", "low"],
)
def test_lower_severities_first_two_hours(policy: Policy, expected: list[Sent]) -> None:
    """High, medium and low escalate as the example says over their first 1h40m."""
    t = Timeline.fire(policy)
    t.run_to(100 * M)
    assert t.sent == expected


def test_ack_at_20m_stops_cto_and_ceo() -> None:
    """An ack at 20m tells those paged who took it; cto and ceo are never paged, nothing repeats."""
    t = Timeline.fire(CRITICAL)
    assert t.ack("alice", 20 * M) == [("20m", "acknowledged", (*CRITICAL_0, "eng-lead"))]
    assert t.pages[-1].acked_by == "alice"
    assert t.pages[-1].step == 1
    t.run_to(4 * H + 19 * M)
    assert [s[0] for s in t.sent] == ["0s", "15m", "20m"]
    assert next_due(t.progress) == 4 * H + 20 * M


def test_ack_expiry_reescalates_from_step_0() -> None:
    """An ack at 20m expires at 4h20m while still firing: the chain starts again from step 0."""
    t = Timeline.fire(CRITICAL)
    t.ack("alice", 20 * M)
    t.run_to(7 * H)
    assert t.sent[3:] == [
        ("4h20m", "reescalation", CRITICAL_0),
        ("4h35m", "escalation", ("eng-lead",)),
        ("4h50m", "escalation", ("cto",)),
        ("5h20m", "escalation", ("ceo",)),
        ("6h20m", "repeat", CRITICAL_ALL),
    ]
    assert t.progress.acked_by is None
    assert t.progress.base == 4 * H + 20 * M


def test_ack_expiry_with_a_delayed_first_step() -> None:
    """After the ack expires the first step waits its own delay, counted from the expiry."""
    policy = Policy("p", (PolicyStep(5 * M, ("a",)), PolicyStep(10 * M, ("b",))), None, H)
    t = Timeline.fire(policy)
    t.ack("bob", 7 * M)
    t.run_to(2 * H)
    assert t.sent == [
        ("5m", "firing", ("a",)),
        ("7m", "acknowledged", ("a",)),
        ("1h12m", "reescalation", ("a",)),
        ("1h17m", "escalation", ("b",)),
    ]


def test_ack_without_expiry_holds_forever() -> None:
    """With no ack_expires_after an ack stops the escalation for good."""
    t = Timeline.fire(replace(CRITICAL, ack_expires_after=None))
    t.ack("alice", 1 * M)
    assert next_due(t.progress) is None
    t.run_to(48 * H, every=10 * M)
    assert [s[1] for s in t.sent] == ["firing", "acknowledged"]


def test_unacknowledge_resumes_without_resending() -> None:
    """Withdrawing an ack at 40m sends the overdue cto step at once, then ceo at 1h; nothing twice."""
    t = Timeline.fire(CRITICAL)
    t.ack("alice", 20 * M)
    t.unack(40 * M)
    t.tick(40 * M)
    t.run_to(61 * M)
    assert t.sent == [
        ("0s", "firing", CRITICAL_0),
        ("15m", "escalation", ("eng-lead",)),
        ("20m", "acknowledged", (*CRITICAL_0, "eng-lead")),
        ("40m", "escalation", ("cto",)),
        ("1h", "escalation", ("ceo",)),
    ]


def test_ack_twice_or_after_resolve_changes_nothing() -> None:
    """A second ack keeps the first acker and sends nothing; acking a resolved alert does nothing."""
    t = Timeline.fire(CRITICAL)
    t.ack("alice", 5 * M)
    again, pages = acknowledge(t.progress, "bob", 6 * M)
    assert (again, pages) == (t.progress, [])
    resolved, _ = resolve(t.progress, 7 * M)
    assert acknowledge(resolved, "bob", 8 * M) == (resolved, [])
    assert unacknowledge(resolved, 8 * M) == resolved


def test_ack_before_anyone_is_told_sends_nothing() -> None:
    """Acked before the first step is due: acked, but there is nobody to tell yet."""
    policy = Policy("p", (PolicyStep(5 * M, ("a",)),))
    t = Timeline.fire(policy)
    assert t.ack("carol", 2 * M) == []
    assert t.progress.acked_by == "carol"
    t.run_to(H)
    assert t.sent == []


def test_resolution_tells_exactly_those_notified_with_duration() -> None:
    """Resolved at 32m: the five told so far hear it, with a 32m duration; once only."""
    t = Timeline.fire(CRITICAL)
    assert t.resolve(32 * M) == [("32m", "resolved", (*CRITICAL_0, "eng-lead", "cto"))]
    assert t.pages[-1].duration == 32 * M
    assert t.pages[-1].step == 2
    assert next_due(t.progress) is None
    t.run_to(3 * H)
    assert len(t.sent) == 4
    assert resolve(t.progress, 3 * H) == (t.progress, [])


def test_resolution_after_ack_names_the_acker() -> None:
    """The resolved notice after an ack carries who acked and the time since firing."""
    t = Timeline.fire(HIGH, at=1000.0)
    t.ack("alice", 1000.0 + 3 * M)
    t.resolve(1000.0 + 50 * M)
    last = t.pages[-1]
    assert (last.kind, last.targets, last.acked_by, last.duration) == (
        "resolved",
        HIGH_0,
        "alice",
        50 * M,
    )


def test_resolved_before_anyone_told_is_silent() -> None:
    """Resolved before the first step is due: nobody was paged, so nobody hears of it."""
    t = Timeline.fire(Policy("p", (PolicyStep(5 * M, ("a",)),)))
    assert t.resolve(3 * M) == []
    assert t.progress.resolved_at == 3 * M


def test_step_exactly_on_its_boundary_fires() -> None:
    """At 14m59s nothing; at exactly 15m (base + after == now) eng-lead is paged."""
    t = Timeline.fire(CRITICAL, at=500.0)
    assert t.run_to(500.0 + 15 * M - S, every=S) == []
    assert t.tick(500.0 + 15 * M) == [("23m20s", "escalation", ("eng-lead",))]


def test_due_twice_at_the_same_time_sends_once() -> None:
    """A repeated tick at the same `now` returns nothing new (the tick is safe to repeat)."""
    p, first = due(start("fp", CRITICAL, 0), 30 * M)
    again, second = due(p, 30 * M)
    assert len(first) == 3
    assert (again, second) == (p, [])


def test_catch_up_after_a_long_gap() -> None:
    """Down from 1m to 1h10m: at restart eng-lead, cto and ceo go at once; repeats count from then."""
    t = Timeline.fire(CRITICAL)
    t.tick(1 * M)
    t.tick(70 * M)
    t.run_to(3 * H)
    assert t.sent == [
        ("0s", "firing", CRITICAL_0),
        ("1h10m", "escalation", ("eng-lead",)),
        ("1h10m", "escalation", ("cto",)),
        ("1h10m", "escalation", ("ceo",)),
        ("2h10m", "repeat", CRITICAL_ALL),
    ]


def test_a_step_waits_for_the_earlier_steps_notices() -> None:
    """The lead's step (15m) falls due while the on-call page (step 0) is still held:
    nothing goes; the lead goes the moment step 0 has settled, timed from the firing
    (not 15m after the settling); catch-up then sends one step per settled step."""
    p, pages = due(start("fp", CRITICAL, 0), 0, frozenset())
    assert [x.step for x in pages] == [0]
    held, pages = due(p, 16 * M, frozenset({0}))
    assert (held, pages) == (p, [])
    p, pages = due(held, 16 * M + 5, frozenset())
    assert [(x.kind, x.targets) for x in pages] == [("escalation", ("eng-lead",))]
    p, pages = due(p, 70 * M, frozenset())  # cto and ceo both overdue: cto first
    assert [x.targets for x in pages] == [("cto",)]
    p, pages = due(p, 70 * M, frozenset({2}))
    assert pages == []
    p, pages = due(p, 70 * M + 1, frozenset())
    assert [x.targets for x in pages] == [("ceo",)]
    assert due(p, 3 * H, frozenset({3}))[1] == []  # the repeat waits for the ceo's page too


def test_missed_repeats_are_sent_once() -> None:
    """Down for five repeat periods: one repeat at restart, the next an hour later."""
    t = Timeline.fire(LOW)
    t.tick(5 * H + 30 * M)
    t.run_to(7 * H)
    assert t.sent == [
        ("0s", "firing", (EMAIL,)),
        ("5h30m", "repeat", (EMAIL,)),
        ("6h30m", "repeat", (EMAIL,)),
    ]
    assert t.progress.repeats == 2


def test_no_repeat_without_repeat_every() -> None:
    """Without repeat_every the chain ends at its last step."""
    t = Timeline.fire(replace(MEDIUM, repeat_every=None))
    t.run_to(5 * H)
    assert [s[0] for s in t.sent] == ["0s", "15m"]
    assert next_due(t.progress) is None


def test_policy_without_steps_never_pages() -> None:
    """An empty policy pages nobody: not on firing, ack, repeat or resolve."""
    t = Timeline.fire(Policy("empty", (), H, H))
    assert next_due(t.progress) is None
    t.ack("alice", 10 * M)
    t.run_to(6 * H)
    t.resolve(6 * H)
    assert t.sent == []


def test_pause_stops_the_clock() -> None:
    """Paused at 10m for 2h: nothing meanwhile; eng-lead 5 minutes after the resume, and so on."""
    t = Timeline.fire(CRITICAL)
    t.pause(True, 10 * M)
    assert next_due(t.progress) is None
    t.pause(False, 2 * H + 10 * M)
    assert next_due(t.progress) == 2 * H + 15 * M
    t.run_to(4 * H)
    assert t.sent == [
        ("0s", "firing", CRITICAL_0),
        ("2h15m", "escalation", ("eng-lead",)),
        ("2h30m", "escalation", ("cto",)),
        ("3h", "escalation", ("ceo",)),
        ("4h", "repeat", CRITICAL_ALL),
    ]


def test_pause_delays_the_repeat() -> None:
    """A pause after the last step moves the next repeat back by the time paused."""
    t = Timeline.fire(LOW)
    t.pause(True, 20 * M)
    t.pause(False, 50 * M)
    t.run_to(3 * H)
    assert [s[0] for s in t.sent] == ["0s", "1h30m", "2h30m"]


def test_fires_while_suppressed_starts_at_the_resume() -> None:
    """An alert that fires inside a maintenance window is first paged when the window ends."""
    p = pause(start("fp-1", HIGH, 0), True, 0)
    t = Timeline(p)
    t.pause(False, 2 * H)
    t.tick(2 * H)
    t.run_to(2 * H + 20 * M)
    assert t.sent == [("2h", "firing", HIGH_0), ("2h15m", "escalation", (ONCALL,))]


def test_pause_is_idempotent() -> None:
    """Pausing a paused alert keeps the first pause time; resuming a running one changes nothing."""
    p = pause(start("fp-1", HIGH, 0), True, 10 * M)
    assert pause(p, True, 20 * M) == p
    running = start("fp-1", HIGH, 0)
    assert pause(running, False, 20 * M) == running


def test_ack_expiring_during_a_pause_reescalates_at_the_resume() -> None:
    """Acked at 20m, paused 1h-6h: the ack ran out at 4h20m, so step 0 goes again at 6h."""
    t = Timeline.fire(CRITICAL)
    t.ack("alice", 20 * M)
    t.pause(True, H)
    t.pause(False, 6 * H)
    t.tick(6 * H)
    t.run_to(6 * H + 16 * M)
    assert t.sent[3:] == [
        ("6h", "reescalation", CRITICAL_0),
        ("6h15m", "escalation", ("eng-lead",)),
    ]


def test_ack_expired_before_a_pause_keeps_its_place() -> None:
    """An ack that ran out before a pause (no tick in between) re-escalates from its expiry, minus the pause."""
    p = sent_so_far(CRITICAL, 2)
    p, _ = acknowledge(p, "alice", 20 * M)
    p = pause(p, True, 4 * H + 30 * M)  # expired at 4h20m, not yet noticed
    p = pause(p, False, 5 * H + 30 * M)
    assert p.acked_by is None
    assert p.base == 5 * H + 20 * M
    assert next_due(p) == 5 * H + 20 * M


def test_mark_notified_appends_new_targets_in_order() -> None:
    """Targets already told are not repeated; new ones keep their order."""
    p = mark_notified(start("fp", LOW, 0), ["a", "b"])
    p = mark_notified(p, ["b", "c", "a", "d"])
    assert p.notified == ("a", "b", "c", "d")


def test_next_due_for_a_fresh_alert() -> None:
    """A fresh alert is due at its first step's delay from firing."""
    assert next_due(start("fp", CRITICAL, 100.0)) == 100.0
    assert next_due(start("fp", Policy("p", (PolicyStep(5 * M, ("a",)),)), 100.0)) == 100.0 + 5 * M


# --- JSON -------------------------------------------------------------------------------------

times = st.floats(min_value=-1e10, max_value=1e10, allow_nan=False, allow_infinity=False)
delays = st.floats(min_value=0, max_value=1e8, allow_nan=False, allow_infinity=False)
names = st.text(max_size=12)
targets = st.lists(names, max_size=4).map(tuple)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    steps = draw(st.lists(st.builds(PolicyStep, delays, targets), max_size=5))
    return Policy(
        name=draw(names),
        steps=tuple(sorted(steps, key=lambda s: s.after)),
        repeat_every=draw(st.none() | st.floats(min_value=1, max_value=1e8)),
        ack_expires_after=draw(st.none() | delays),
    )


progresses = st.builds(
    Progress,
    fingerprint=names,
    policy=policies(),
    fired_at=times,
    base=times,
    next_step=st.integers(0, 10),
    repeats=st.integers(0, 1000),
    last_page_at=st.none() | times,
    acked_by=st.none() | names,
    acked_at=st.none() | times,
    resolved_at=st.none() | times,
    notified=targets,
    paused=st.booleans(),
    paused_at=st.none() | times,
)


@settings(max_examples=200, deadline=None)
@given(progresses)
def test_progress_json_round_trip(progress: Progress) -> None:
    """Any progress survives to_json, a JSON text round trip, and from_json unchanged."""
    text = json.dumps(progress.to_json(), allow_nan=False)
    assert Progress.from_json(json.loads(text)) == progress


@given(
    st.builds(
        Page,
        targets,
        st.sampled_from(KINDS),
        st.integers(0, 10),
        st.none() | names,
        st.none() | delays,
    )
)
def test_page_json_round_trip(page: Page) -> None:
    """Pages survive to_json / from_json through JSON text, for the store's outbox."""
    assert Page.from_json(json.loads(json.dumps(page.to_json()))) == page


def test_progress_from_json_fills_optional_fields() -> None:
    """A minimal stored row reads back with defaults (base = fired_at)."""
    p = Progress.from_json({"fingerprint": "fp", "policy": LOW_ROW, "fired_at": 5.0})
    assert p == start("fp", LOW, 5.0)


LOW_ROW = {
    "name": "low",
    "steps": [{"after": 0.0, "notify": ["email:ops@example.com"]}],
    "repeat_every": 3600.0,
    "ack_expires_after": 14400.0,
}
# An escalations row as the hand-written to_json stored it before the TypeAdapter.
STORED_ROW = """{"fingerprint": "fp", "policy": {"name": "critical", "steps": [
 {"after": 0.0, "notify": ["oncall:primary", "ops-slack"]}, {"after": 900, "notify": ["eng-lead"]}],
 "repeat_every": 1800.0, "ack_expires_after": null}, "fired_at": 100.0, "base": 160.5,
 "next_step": 2, "repeats": 1, "last_page_at": 1060.5, "acked_by": "alice", "acked_at": 1200.0,
 "resolved_at": null, "notified": ["oncall:primary", "ops-slack", "eng-lead"], "paused": true,
 "paused_at": 1300.0}"""


def test_a_row_stored_in_the_earlier_format_still_loads() -> None:
    """Escalations saved before the TypeAdapter read back whole, and write back the same."""
    row = json.loads(STORED_ROW)
    p = Progress.from_json(row)
    critical = Policy(
        "critical",
        (PolicyStep(0.0, ("oncall:primary", "ops-slack")), PolicyStep(900.0, ("eng-lead",))),
        repeat_every=1800.0,
    )
    assert p == Progress(
        "fp",
        critical,
        fired_at=100.0,
        base=160.5,
        next_step=2,
        repeats=1,
        last_page_at=1060.5,
        acked_by="alice",
        acked_at=1200.0,
        notified=("oncall:primary", "ops-slack", "eng-lead"),
        paused=True,
        paused_at=1300.0,
    )
    assert p.to_json() == {
        **row,
        "policy": {
            **row["policy"],
            "steps": [
                {"after": 0.0, "notify": ["oncall:primary", "ops-slack"]},
                {"after": 900.0, "notify": ["eng-lead"]},
            ],
        },
    }


def test_a_stored_row_with_a_bad_field_is_a_one_line_value_error() -> None:
    """A damaged row names its bad field; the escalator logs it and skips the row."""
    row = {**json.loads(STORED_ROW), "next_step": "two"}
    with pytest.raises(ValueError, match=r"^stored progress next_step: .*integer") as caught:
        Progress.from_json(row)
    assert "\n" not in str(caught.value)


def test_page_from_json_rejects_an_unknown_kind() -> None:
    """A stored page of an unknown kind is an error, not a silent default."""
    with pytest.raises(ValueError, match="page kind"):
        Page.from_json({"targets": [], "kind": "nag", "step": 0})
