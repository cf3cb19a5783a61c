"""The store's hourly roll-up of SLO minutes (docs/slos.md, "Storage"): counters loaded
from hours (the old part) and minutes (the last six hours or so) are the counters loaded
from every minute. A property test on random minutes, through the SloKeeper and a real
SQLite store each (the contract test checks PostgreSQL's roll-up gives the same rows)."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel.clock import FakeClock
from sentinel.config import Config, parse_config
from sentinel.probes.results import Result
from sentinel.rules.slo import SloStatus
from sentinel.rules.slo_engine import SloEngine
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.store import open_store
from sentinel.store.protocols import SloMinute

CONFIG = """
checks:
  - {name: api, type: http, url: "http://127.0.0.1/health", interval: 1m}
slos:
  - {name: rolling, match: {check: api}, objective: 99.9%}
  - {name: week, match: {check: api}, objective: 99%, window: 7d}
  - {name: month, match: {check: api}, objective: 99%, window: month}
  - {name: kolkata, match: {check: api}, objective: 99%, window: month, timezone: Asia/Kolkata}
  - {name: kathmandu, match: {check: api}, objective: 99%, window: month, timezone: Asia/Kathmandu}
"""
NAMES = ("rolling", "week", "month", "kolkata", "kathmandu")
START = datetime(2026, 3, 2, 7, 13, 20, tzinfo=UTC)  # minute 0 of the rows
SPAN = 33 * 1440  # minutes of rows: more than the longest window (a 31-day month)
SPANS = (300.0, 3600.0, 6 * 3600.0, 6 * 3600.0 + 60, 86400.0, 3 * 86400.0, 30 * 86400.0)

# Where rows tell the two paths apart: around the roll-up's cutoff (six to seven hours
# before the end), the month starts in each zone, and the 3-, 7- and 30-day windows' starts.
MONTH = int((datetime(2026, 4, 1, tzinfo=UTC) - START).total_seconds() // 60)
EDGES = (SPAN - 420, MONTH, MONTH - 330, MONTH - 345, SPAN - 4320, SPAN - 10080, SPAN - 43200)

# Runs of consecutive minutes (slo, first, how many, good, total): anywhere, or near an edge.
rows_of = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.one_of(
            st.integers(0, SPAN - 1),
            st.sampled_from(EDGES).flatmap(lambda e: st.integers(e - 240, e + 120)),
        ),
        st.integers(1, 90),
        st.integers(0, 300),
        st.integers(0, 300),
    ),
    max_size=30,
)


def view(keeper: SloKeeper, now: datetime) -> tuple[list[SloStatus], list[object]]:
    """Each SLO's status and, per SLO, where its counters start and its window sums."""
    at = now.timestamp()
    sums: list[object] = []
    for name in NAMES:
        counters = keeper.engine.counters(name)
        assert counters is not None
        sums.append((name, counters.first, [counters.sums(at, s) for s in SPANS]))
    return keeper.engine.statuses(now), sums


async def loaded(
    config: Config, path: Path, rows: list[SloMinute], roll_at: datetime | None, at: datetime
) -> list[tuple[list[SloStatus], list[object]]]:
    """Rows written to a new store as a keeper would (a minute before ``roll_at`` is
        written before the roll-up at ``roll_at``, the others after it; None: no roll-up),
        then a keeper started at ``at``: its views at ``at`` and a few times after it (with a
    roll-up, it reads the SLOs back two at a time: the same counters as all at once)."""
    store = open_store(f"sqlite:///{path}")
    await store.open()
    try:
        cut = None if roll_at is None else int(roll_at.timestamp() // 60)
        await store.save_slo_minutes([r for r in rows if cut is None or r[1] <= cut])
        if roll_at is not None:
            writer = SloKeeper(engine(config), store, FakeClock(roll_at))
            await writer.prune()
        await store.save_slo_minutes([r for r in rows if cut is not None and r[1] > cut])
        clock = FakeClock(at)
        keeper = SloKeeper(SloEngine(), store, clock)
        if roll_at is not None:
            keeper.LOAD_CHUNK = 2  # the rolled path reads its 5 SLOs back 2 at a time
        await keeper.open(config)
        try:
            return [view(keeper, at + timedelta(minutes=m)) for m in (0, 1, 59, 61, 360, 1500)]
        finally:
            await keeper.close()
    finally:
        await store.close()


def engine(config: Config) -> SloEngine:
    made = SloEngine()
    made.configure(config)
    return made


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_of, roll=st.integers(0, 180), after=st.sampled_from((0, 1, 30, 61, 180)))
def test_counters_from_hours_and_minutes_are_the_counters_from_every_minute(
    rows: list[tuple[str, int, int, int, int]], roll: int, after: int
) -> None:
    """Random minutes, rolled up by the keeper's hourly step ``roll`` minutes before the
    last row and loaded ``after`` minutes after that: every window's sums, where each
    SLO's counters start, and every status (budget, burn rates, firing and warming
    pairs, calendar months in UTC, +5:30 and +5:45) match loading every minute."""
    config = parse_config(CONFIG, "t.yaml", {})
    minutes = {}
    for name, first, count, good, total in rows:
        for minute in range(first, min(first + count, SPAN)):
            row = (name, int(START.timestamp() // 60) + minute, min(good, total), total)
            minutes[name, minute] = row
    roll_at = START + timedelta(minutes=SPAN - roll)
    at = roll_at + timedelta(minutes=after)
    last = int(at.timestamp() // 60)
    stored = sorted((r for r in minutes.values() if r[1] <= last), key=lambda r: (r[1], r[0]))
    with tempfile.TemporaryDirectory() as tmp:
        rolled = asyncio.run(loaded(config, Path(tmp) / "r.db", stored, roll_at, at))
        every = asyncio.run(loaded(config, Path(tmp) / "m.db", stored, None, at))
    assert rolled == every


def test_every_minute_of_the_last_nine_hours_rolled_up_at_the_end() -> None:
    """A run each minute around the cutoff (every SLO): the minute ring's six hours and
    the hours before them read the same after the roll-up as before it."""
    config = parse_config(CONFIG, "t.yaml", {})
    base = int(START.timestamp() // 60)
    rows = [(n, base + m, min(m % 3, 2), 2) for m in range(SPAN - 540, SPAN) for n in NAMES]
    roll_at = START + timedelta(minutes=SPAN)
    with tempfile.TemporaryDirectory() as tmp:
        rolled = asyncio.run(loaded(config, Path(tmp) / "r.db", rows, roll_at, roll_at))
        every = asyncio.run(loaded(config, Path(tmp) / "m.db", rows, None, roll_at))
    assert rolled == every


async def test_minutes_a_failed_save_could_not_write_are_written_by_the_next(
    tmp_path: Path,
) -> None:
    """A save the store refuses keeps its minutes; the next save writes them with the
    minutes counted since, the newer count of a minute replacing the older."""
    config = parse_config(CONFIG, "t.yaml", {})
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    await store.open()
    try:
        keeper = SloKeeper(SloEngine(), store, FakeClock(START))
        await keeper.open(config)
        counters = keeper.engine.counters("rolling")
        assert counters is not None
        at = START.timestamp()
        counters.add(at, True)
        db = store.db  # type: ignore[attr-defined]
        await db.execute("ALTER TABLE slo_member_minutes RENAME TO away")  # the store refuses
        await keeper.save()
        counters.add(at + 1, False)  # the same minute again
        counters.add(at + 60, True)  # and the next
        await keeper.save()  # refused again: all three runs kept
        await db.execute("ALTER TABLE away RENAME TO slo_member_minutes")
        await keeper.save()
        minute = int(at // 60)
        rows = await store.load_slo_minutes(0, ["rolling"])
        assert rows == [("rolling", minute, 1, 2), ("rolling", minute + 1, 1, 1)]
        await keeper.close()
    finally:
        await store.close()


async def test_an_upgrade_restart_counts_the_minute_an_older_version_wrote_once(
    tmp_path: Path,
) -> None:
    """An older version wrote the current minute member-less (slo_minutes); the new one
    starts within that minute, loads it and counts one more run: the store holds the
    older version's runs once and the new run. Before: the new version wrote the whole
    minute, the older version's runs included, as its own row beside theirs."""
    config = parse_config(
        """
checks:
  - {name: api, type: http, url: "http://127.0.0.1/health", interval: 10s}
slos:
  - {name: api-availability, match: {check: api}, objective: 99.9%}
""",
        "t.yaml",
        {},
    )
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC))
    minute = int(clock.now().timestamp() // 60)
    db = tmp_path / "state.db"
    store = open_store(f"sqlite:{db}")
    await store.open()
    await store.close()
    with sqlite3.connect(db) as conn:  # what a version before migration 12 wrote
        conn.execute("INSERT INTO slo_minutes VALUES ('api-availability', ?, 3, 3)", (minute,))
    store = open_store(f"sqlite:{db}")
    await store.open()
    keeper = SloKeeper(SloEngine(), store, clock)
    await keeper.open(config)
    try:
        run = Result(check="api", type="http", ok=True, started_at=clock.now(), duration=0.1)
        keeper.engine.observe(run, clock.now())
        await keeper.save()
        assert await store.load_slo_minutes(0) == [("api-availability", minute, 4, 4)]
    finally:
        await keeper.close()
        await store.close()
