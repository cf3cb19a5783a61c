"""The SLO keeper's compact statuses (sentinel/rules/slo_table.py): the statuses built
back from the table are the engine's, field for field, for SLOs with and without runs,
calendar months in a time zone, firing and warming pairs and windows of their own; and
what the keeper keeps between refreshes costs well under 100 bytes per SLO."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentinel.clock import FakeClock
from sentinel.config import parse_config
from sentinel.probes.results import Result
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo_engine import SloEngine
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.rules.slo_table import SloTable
from sentinel.store.sqlite import SqliteStore

NOW = datetime(2026, 3, 31, 21, 0, tzinfo=UTC)  # 1 April 02:30 in Asia/Kolkata

CASES = """
checks:
  - {name: api, type: http, url: "http://127.0.0.1/health", interval: 1m}
  - {name: db, type: tcp, target: "127.0.0.1:5432", interval: 1m}
  - {name: idle, type: tcp, target: "127.0.0.1:6379", interval: 1m}
slos:
  - {name: api-availability, match: {check: api}, objective: 99.9%}
  - {name: api-month, match: {check: api}, objective: 99%, window: month, timezone: Asia/Kolkata}
  - {name: api-utc-month, match: {check: api}, objective: 95%, window: month}
  - name: db-availability
    match: {check: db}
    objective: 99.5%
    alerts: {ticket: null, page-fast: {factor: 10}}
  - name: db-weekly
    match: {check: db}
    objective: 99%
    window: 7d
    alerts: {weekly: {factor: 1, long: 7d, short: 1d, severity: low}}
  - {name: idle, match: {check: idle}, objective: 99%}
"""


def varied() -> SloEngine:
    """SLOs at :data:`NOW`: the api's covered for three days and burning (its pairs fire),
    the db's covered for an hour (its longer pairs warm), idle's with no runs at all."""
    rules, engine = RuleEngine(), SloEngine()
    rules.attach(engine)
    rules.configure(parse_config(CASES, "t.yaml", {}))
    for name, since in (
        ("api-availability", 3 * 86400 + 3600),
        ("api-month", 3 * 86400 + 3600),
        ("api-utc-month", 3 * 86400 + 3600),
        ("db-availability", 3600),
        ("db-weekly", 3600),
    ):
        counters = engine.counters(name)
        assert counters is not None
        counters.seed((NOW - timedelta(minutes=30)).timestamp(), since, 2)
    for minute in range(30, 0, -1):  # the last half hour: the api fails, the db half does
        at = NOW - timedelta(minutes=minute)
        rules.observe(Result("api", "http", False, at, 0.1), at)
        rules.observe(Result("db", "tcp", minute % 2 == 0, at, 0.1), at)
    return engine


def test_the_statuses_built_back_are_the_engines() -> None:
    engine = varied()
    statuses = engine.statuses(NOW)
    by_name = {s.name: s for s in statuses}
    # The cases are there: firing pairs, warming ones, no runs, a month in a zone.
    assert by_name["api-availability"].firing == ("page-fast", "page-slow", "ticket")
    assert by_name["db-weekly"].firing == ("page-fast",)
    assert by_name["db-weekly"].warming == ("page-slow", "ticket", "weekly")
    assert by_name["api-utc-month"].exhaustion is not None
    assert by_name["idle"].attainment is None
    assert by_name["idle"].burn["1h"] is None
    assert by_name["api-month"].window_start == datetime(2026, 4, 1, tzinfo=UTC).timestamp() - (
        5.5 * 3600
    )
    assert set(by_name["db-availability"].burn) == {"5m", "30m", "1h", "6h"}
    assert "7d" in by_name["db-weekly"].burn

    table = SloTable.of(engine.slos, statuses, NOW.timestamp())

    assert table.statuses() == statuses
    assert table.status("db-weekly") == by_name["db-weekly"]
    assert table.status("nope") is None
    assert SloTable.empty().statuses() == []


def test_a_table_refuses_statuses_out_of_order() -> None:
    engine = varied()
    statuses = engine.statuses(NOW)
    with pytest.raises(ValueError, match="idle"):
        SloTable.of(engine.slos, statuses[::-1], NOW.timestamp())


def many(count: int) -> SloEngine:
    text = "checks:\n" + "".join(
        f'  - {{name: c{i}, type: tcp, target: "127.0.0.1:1", interval: 30s}}\n'
        for i in range(count)
    )
    text += "slos:\n" + "".join(
        f"  - {{name: s{i}, match: {{check: c{i}}}, objective: 99.9%}}\n" for i in range(count)
    )
    engine = SloEngine()
    engine.configure(parse_config(text, "t.yaml", {}))
    for slo in engine.slos:  # counters full: every window has runs, every figure a value
        counters = engine.counters(slo.name)
        assert counters is not None
        counters.seed(NOW.timestamp(), 30 * 86400, 2)
    return engine


def test_the_keeper_keeps_under_100_bytes_per_slo(tmp_path: Path) -> None:
    """Traced: what a refresh leaves held by the keeper (a SloStatus per SLO was ~1.8 kB)."""
    count = 1000
    engine = many(count)
    clock = FakeClock(NOW)
    store = SqliteStore(str(tmp_path / "unopened.db"))  # a refresh does not use it
    SloKeeper(engine, store, clock).refresh()  # caches (windows, months) warm
    keeper = SloKeeper(engine, store, clock)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keeper.refresh()
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept / count < 100
    assert len(keeper.table.statuses()) == count
    assert len(keeper.table.shapes) == 1  # the same windows, no pair firing or warming: shared
