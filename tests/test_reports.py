"""Reports: the pure figures, a report from a real store, its three renderings,
``sentinel report``, scheduled reports on a fake clock, and notifiers given a report."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from sentinel.cli.main import main
from sentinel.clock import FakeClock
from sentinel.config import Config
from sentinel.config.models import PagerDutyChannel, SmsChannel
from sentinel.escalation.incidents import Incident
from sentinel.notify.base import DeliveryError, Notice
from sentinel.notify.outbox import Delivery
from sentinel.notify.pagerduty import PagerDutyNotifier
from sentinel.notify.render import Renderer
from sentinel.notify.sms import SmsNotifier, gsm_cost
from sentinel.probes.results import Result, Sample
from sentinel.reports.build import build_report
from sentinel.reports.figures import (
    DAY,
    P95_SPAN,
    compose_report,
    day_range,
    incident_stats,
    notification_table,
    percentile,
    sample_windows,
    thin,
    uptime_by,
    uptime_stats,
    worst_checks,
)
from sentinel.reports.render import pct, render_report, summary_text
from sentinel.reports.schedule import ReportScheduler
from sentinel.store.sqlite import SqliteStore

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)  # a Friday
D0 = math.floor(T0.timestamp() / DAY)  # its UTC day since the epoch


def ts(**delta: float) -> float:
    return (T0 + timedelta(**delta)).timestamp()


def result(check: str, at: datetime, ok: bool = True, duration: float = 0.012) -> Result:
    """A result shaped as the runner makes them: ``up`` and ``duration_seconds`` first."""
    return Result(
        check=check,
        type="tcp",
        ok=ok,
        started_at=at,
        duration=duration,
        error=None if ok else "connection refused",
        samples=(Sample("up", float(ok)), Sample("duration_seconds", duration)),
    )


def incident(
    n: int,
    severity: str,
    started: float,
    acked: float | None = None,
    resolved: float | None = None,
    title: str = "api down",
) -> Incident:
    return Incident(
        id=f"INC-{n}",
        fingerprint=f"fp{n}",
        rule="ServiceDown",
        check="api",
        severity=severity,
        title=title,
        started_at=started,
        acked_at=acked,
        acked_by="alice" if acked is not None else None,
        resolved_at=resolved,
    )


def config(**extra: Any) -> Config:
    data: dict[str, Any] = {
        "checks": [
            {"name": "api", "type": "tcp", "target": "127.0.0.1:9"},
            {"name": "db", "type": "tcp", "target": "127.0.0.1:9"},
            {"name": "idle", "type": "tcp", "target": "127.0.0.1:9"},
        ],
        "channels": {"slack-alerts": {"type": "console"}},
    }
    data.update(extra)
    return Config.model_validate(data)


# -- pure computations -----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (ts(hours=9), ts(days=1, hours=9), (D0, D0 + 1)),  # 17:00 to 17:00: two partial days
        (ts(hours=-8), ts(days=1, hours=-8), (D0, D0)),  # midnight to midnight: one whole day
        (ts(hours=-8), ts(days=7, hours=-8), (D0, D0 + 6)),
        (ts(hours=1), ts(days=7, hours=1), (D0, D0 + 7)),
        (ts(hours=1), ts(hours=1, seconds=1), (D0, D0)),
    ],
)
def test_day_range_covers_every_utc_day_the_period_touches(
    start: float, end: float, expected: tuple[int, int]
) -> None:
    """Uptime is read from whole UTC days: every day overlapping [start, end)."""
    assert day_range(start, end) == expected


@pytest.mark.parametrize(
    ("rows", "runs", "uptime", "avg"),
    [
        ([], 0, None, None),
        ([(D0, 10, 10, 1.0)], 10, 100.0, 0.1),
        ([(D0, 9, 10, 1.0), (D0 + 1, 1, 10, 3.0)], 20, 50.0, 0.2),
        ([(D0, 2, 3, 0.3)], 3, 66.6667, 0.1),
    ],
)
def test_uptime_stats(
    rows: list[tuple[int, int, int, float]], runs: int, uptime: float | None, avg: float | None
) -> None:
    """ok / runs over the rollup rows, average latency = duration sum / runs."""
    stats = uptime_stats(rows)
    assert (stats["runs"], stats["uptime_percent"], stats["avg_latency_seconds"]) == (
        runs,
        uptime,
        avg,
    )
    assert stats["failed"] == runs - stats["ok"]


def test_partial_days_count_whole_and_days_outside_the_period_are_left_out() -> None:
    """A 1d report ending 17:00 counts both UTC days it touches in full, not the day before."""
    rollups = {"api": [(D0 - 1, 0, 50, 0.0), (D0, 90, 100, 2.0), (D0 + 1, 50, 50, 1.0)]}
    report = compose_report(
        start=ts(hours=9),
        end=ts(days=1, hours=9),
        checks=["api"],
        rollups=rollups,
        latencies={},
        sampled=False,
        incidents=[],
        notifications={},
    )
    api = report["checks"][0]
    assert api["runs"] == 150
    assert api["uptime_percent"] == pytest.approx(93.3333)
    assert [d["label"] for d in api["daily"]] == ["2026-05-01", "2026-05-02"]
    assert "weekly" not in api
    assert report["period"]["uptime_days"] == {"first": "2026-05-01", "last": "2026-05-02"}


def test_uptime_by_week_and_month_labels() -> None:
    """ISO weeks and calendar months group the days (2026-05-03 is a Sunday)."""
    rows = [(D0 + i, 1, 1, 0.0) for i in range(5)]  # Fri 1 May .. Tue 5 May
    weeks = uptime_by(rows, "week")
    assert [(w["label"], w["runs"]) for w in weeks] == [("2026-W18", 3), ("2026-W19", 2)]
    months = uptime_by([(D0 - 1, 0, 4, 0.0), *rows], "month")
    assert [(m["label"], m["uptime_percent"]) for m in months] == [
        ("2026-04", 0.0),
        ("2026-05", 100.0),
    ]


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 95, None),
        ([0.5], 95, 0.5),
        ([2.0, 1.0], 95, 2.0),
        ([float(i) for i in range(1, 21)], 95, 19.0),
        ([float(i) for i in range(100, 0, -1)], 95, 95.0),
        ([float(i) for i in range(1, 101)], 50, 50.0),
        ([1.0] * 99 + [100.0], 95, 1.0),
        ([1.0] * 94 + [100.0] * 6, 95, 100.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    """The p95 is the nearest-rank 95th percentile of the durations."""
    assert percentile(values, q) == expected


def test_sample_windows_read_everything_up_to_a_week() -> None:
    """A period up to 7 days is read whole, in one window."""
    assert sample_windows(0.0, 7 * DAY) == [(0.0, 7 * DAY)]


@pytest.mark.parametrize("days", [8, 28, 30, 365])
def test_sample_windows_spread_seven_days_over_a_long_period(days: int) -> None:
    """Longer periods: 24 windows, one in each 24th of the period, 7 days in all."""
    start, end = 1000.0, 1000.0 + days * DAY
    windows = sample_windows(start, end)
    assert len(windows) == 24
    assert sum(b - a for a, b in windows) == pytest.approx(P95_SPAN)
    step = (end - start) / 24
    for i, (a, b) in enumerate(windows):
        assert start + i * step <= a < b <= start + (i + 1) * step + 1e-6
    hours = {round(((a - start) % DAY) / 3600) for a, _ in windows}
    assert len(hours) > 1 or days == 8  # not all at one time of day


def test_thin_keeps_an_even_spread() -> None:
    """Above the cap, every k-th value is kept; below it, all of them."""
    assert thin([1.0, 2.0], 5) == [1.0, 2.0]
    assert thin([float(i) for i in range(10)], 5) == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_mtta_and_mttr_skip_unacknowledged_and_unresolved_incidents() -> None:
    """MTTA averages the acknowledged, MTTR the resolved; open ones count in neither."""
    stats = incident_stats(
        [
            incident(1, "critical", 0.0, acked=60.0, resolved=600.0),
            incident(2, "low", 100.0, acked=400.0),  # acked, still open
            incident(3, "critical", 200.0, resolved=1400.0),  # resolved, never acked
            incident(4, "high", 300.0),  # neither
            incident(5, "weird", 400.0),
        ]
    )
    assert stats["total"] == 5
    assert list(stats["by_severity"].items()) == [
        ("critical", 2),
        ("high", 1),
        ("low", 1),
        ("weird", 1),
    ]
    assert (stats["acknowledged"], stats["mtta_seconds"]) == (2, 180.0)
    assert (stats["resolved"], stats["mttr_seconds"]) == (2, 900.0)
    assert [i["id"] for i in stats["list"]] == ["INC-1", "INC-2", "INC-3", "INC-4", "INC-5"]
    assert stats["list"][1]["duration_seconds"] is None


def test_mtta_and_mttr_are_none_without_incidents() -> None:
    """No incidents: zero counts and no means, rather than a division by zero."""
    stats = incident_stats([])
    assert (stats["total"], stats["mtta_seconds"], stats["mttr_seconds"]) == (0, None, None)


def test_notification_table_folds_outbox_states_into_outcomes() -> None:
    """merged counts as sent, held as pending; each channel gets all four outcomes."""
    table = notification_table(
        {("slack", "sent"): 3, ("slack", "merged"): 2, ("sms", "held"): 1, ("sms", "dead"): 4}
    )
    assert table == {
        "slack": {"sent": 5, "failed": 0, "dead": 0, "pending": 0},
        "sms": {"sent": 0, "failed": 0, "dead": 4, "pending": 1},
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (100.0, "100%"), (99.999, "99.99%"), (99.5, "99.50%"), (0.0, "0.00%")],
)
def test_pct_never_rounds_up_to_a_hundred(value: float | None, text: str) -> None:
    """Uptime for people: floored to two decimals, so a failure never reads 100%."""
    assert pct(value) == text


# -- a report from a real store ------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "state.db"))
    await s.open()
    yield s
    await s.close()


async def fill(store: SqliteStore, end: datetime) -> None:
    """A week before ``end``: api fails 1 run in 10 and has slow tails, db is always up;
    three incidents in the period and one before it; a few outbox rows."""
    results = []
    for i in range(7 * 24):
        at = end - timedelta(hours=7 * 24 - i) + timedelta(minutes=1)
        results.append(result("api", at, ok=i % 10 != 0, duration=0.5 if i % 20 == 0 else 0.02))
        results.append(result("db", at, duration=0.004))
    results.append(result("api", end - timedelta(days=30)))  # before the period
    await store.add_results(results)
    e = end.timestamp()
    await store.save_incident(
        incident(1, "critical", e - 5 * DAY, e - 5 * DAY + 120, e - 5 * DAY + 1800)
    )
    await store.save_incident(
        incident(2, "high", e - 2 * DAY, resolved=e - 2 * DAY + 600, title="db | slow")
    )
    await store.save_incident(incident(3, "critical", e - 3600, acked=e - 3600 + 300))
    await store.save_incident(incident(0, "low", e - 30 * DAY, resolved=e - 30 * DAY + 60))

    def row(n: int, channel: str, state: str, at: float) -> Delivery:
        notice = Notice(kind="test", at=at)
        return Delivery(f"d{n}", "", channel, channel, None, notice, at, at, state=state)  # type: ignore[arg-type]

    await store.commit_notifications(
        [],
        [
            row(1, "slack-alerts", "sent", e - DAY),
            row(2, "slack-alerts", "merged", e - DAY),
            row(3, "sms", "failed", e - DAY),
            row(4, "sms", "held", e - 60),
            row(5, "sms", "sent", e - 30 * DAY),  # before the period
        ],
        e,
    )


END = datetime(2026, 5, 8, 17, 0, tzinfo=UTC)


async def test_build_report_from_a_sqlite_store(store: SqliteStore) -> None:
    """Uptime, latency, incidents and notifications of a week, read from SQLite."""
    await fill(store, END)
    report = await build_report(store, config(), END, 7 * DAY)
    assert report["period"] == {
        "start": "2026-05-01T17:00:00+00:00",
        "end": "2026-05-08T17:00:00+00:00",
        "seconds": 7 * DAY,
        "label": "1w",
        "uptime_days": {"first": "2026-05-01", "last": "2026-05-08"},
    }
    api, db, idle = report["checks"]
    assert (api["name"], api["runs"], api["failed"]) == ("api", 168, 17)
    assert api["uptime_percent"] == pytest.approx(100 * 151 / 168, abs=1e-4)
    assert api["avg_latency_seconds"] == pytest.approx((9 * 0.5 + 159 * 0.02) / 168, abs=1e-6)
    assert api["p95_latency_seconds"] == 0.5  # 9 slow runs of 168: more than 5%
    assert api["p95_sampled"] is False
    assert len(api["daily"]) == 8
    assert len(api["weekly"]) == 2
    assert "monthly" not in api
    assert (db["uptime_percent"], db["p95_latency_seconds"]) == (100.0, 0.004)
    assert (idle["runs"], idle["uptime_percent"], idle["p95_latency_seconds"]) == (0, None, None)
    assert report["uptime"]["percent"] == pytest.approx((api["uptime_percent"] + 100) / 2)
    assert report["uptime"]["measured"] == 2
    inc = report["incidents"]
    assert [i["id"] for i in inc["list"]] == ["INC-1", "INC-2", "INC-3"]
    assert inc["by_severity"] == {"critical": 2, "high": 1}
    assert (inc["mtta_seconds"], inc["mttr_seconds"]) == (210.0, 1200.0)
    assert report["notifications"] == {
        "slack-alerts": {"sent": 2, "failed": 0, "dead": 0, "pending": 0},
        "sms": {"sent": 0, "failed": 1, "dead": 0, "pending": 1},
    }
    assert json.loads(json.dumps(report)) == report  # JSON-safe


async def test_long_periods_sample_the_p95_and_group_by_month(store: SqliteStore) -> None:
    """A 30-day report reads a sample for the p95 and adds weekly and monthly uptime."""
    await fill(store, END)
    report = await build_report(store, config(), END, 30 * DAY)
    api = report["checks"][0]
    assert api["p95_sampled"] is True
    assert api["p95_latency_seconds"] in (0.02, 0.5)
    assert [m["label"] for m in api["monthly"]] == ["2026-04", "2026-05"]
    assert report["incidents"]["total"] == 4  # INC-0 started at the very start: [start, end)


def sample_report() -> dict[str, Any]:
    report = compose_report(
        start=ts(hours=9),
        end=ts(days=7, hours=9),
        checks=["api", "db", "idle"],
        rollups={"api": [(D0 + i, 95, 100, 2.0) for i in range(8)], "db": [(D0, 10, 10, 0.04)]},
        latencies={"api": [0.02] * 19 + [0.3], "db": [0.004]},
        sampled=False,
        incidents=[
            incident(1, "critical", ts(days=1), ts(days=1, minutes=4), ts(days=1, minutes=22)),
            incident(2, "high", ts(days=2), title="db | slow"),
        ],
        notifications={("slack-alerts", "sent"): 4, ("sms", "failed"): 1},
    )
    return report


def test_render_json_is_the_report_indented() -> None:
    """JSON is the report itself, indented by two."""
    report = sample_report()
    text = render_report(report, "json")
    assert json.loads(text) == report
    assert text.startswith('{\n  "period": {')


def test_render_table_aligns_columns() -> None:
    """The table form: headline, KPIs, aligned CHECK/UPTIME columns, incidents, channels."""
    text = render_report(sample_report(), "table")
    lines = text.splitlines()
    assert lines[0] == "sentinel report: 2026-05-01 17:00Z to 2026-05-08 17:00Z (1w)"
    assert "Uptime (mean of checks)      97.50%" in text
    header = next(line for line in lines if line.startswith("CHECK  "))
    api = next(line for line in lines if line.startswith("api  "))
    assert header.index("UPTIME") == api.index("95.00%")
    assert "UPTIME BY DAY" in text
    assert "2026-05-08" in text
    assert "INC-2  high      2026-05-03 08:00Z  -          ongoing   db | slow" in text
    assert "sms           0     1       0     0" in text
    assert "whole UTC days 2026-05-01 to 2026-05-08" in text


def test_render_markdown_has_headings_and_tables() -> None:
    """Markdown reads like a weekly KPI summary: headings and pipe tables, pipes escaped."""
    text = render_report({**sample_report(), "name": "weekly"}, "markdown")
    assert text.startswith("# sentinel weekly report: 2026-05-01 17:00Z to 2026-05-08 17:00Z (1w)")
    for heading in ("## Summary", "## Checks", "## Uptime by day", "## Incidents"):
        assert f"\n{heading}\n\n|" in text
    assert "| KPI | Value |\n|---|---|\n| Uptime (mean of checks) | 97.50% |" in text
    assert "| api | 95.00% | 800 | 40 | 20ms | 20ms |" in text
    assert "db \\| slow" in text
    assert "| MTTA | 4m (1 acknowledged) |" in text


def test_render_rejects_an_unknown_format() -> None:
    """A format that is not table, markdown or json is a ValueError."""
    with pytest.raises(ValueError, match="unknown format"):
        render_report(sample_report(), "csv")  # type: ignore[arg-type]


def test_summary_text_has_uptime_incidents_means_and_worst_checks() -> None:
    """A few lines: headline with uptime, incidents by severity with MTTA/MTTR, worst checks."""
    text = summary_text({**sample_report(), "name": "daily"})
    assert text.splitlines() == [
        "daily report 2026-05-01 17:00Z to 2026-05-08 17:00Z (1w): uptime 97.50% across "
        "3 checks, 2 incidents",
        "Incidents: 2 (critical 1, high 1); MTTA 4m; MTTR 22m",
        "Worst checks: api 95.00%, db 100%",
    ]


def test_worst_checks_are_the_five_lowest() -> None:
    """Checks that ran, lowest uptime first, ties by name, five at most."""
    checks = [{"name": f"c{i}", "uptime_percent": float(100 - i % 7)} for i in range(10)]
    checks.append({"name": "idle", "uptime_percent": None})
    worst = worst_checks({"checks": checks})
    assert [c["name"] for c in worst] == ["c6", "c5", "c4", "c3", "c2"]


# -- sentinel report -------------------------------------------------------------------


def write_config(tmp_path: Path, db: Path) -> str:
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        f"storage:\n  url: sqlite:///{db}\n"
        "checks:\n"
        "  - {name: api, type: tcp, target: '127.0.0.1:9'}\n"
        "  - {name: db, type: tcp, target: '127.0.0.1:9'}\n",
        encoding="utf-8",
    )
    return str(path)


def filled_db(path: Path) -> Path:
    async def go() -> None:
        s = SqliteStore(str(path))
        await s.open()
        try:
            await fill(s, datetime.now(UTC).replace(microsecond=0))
        finally:
            await s.close()

    asyncio.run(go())
    return path


def test_cli_report_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sentinel report`` reads the store the config names and prints the table (exit 0)."""
    path = write_config(tmp_path, filled_db(tmp_path / "state.db"))
    assert main(["report", "-c", path, "--period", "7d"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sentinel report: ")
    assert "(1w)" in out.splitlines()[0]
    assert "Incidents                    3 (critical 2, high 1)" in out
    assert "api    89.88%" in out


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_cli_report_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    """``--format markdown`` and ``--format json`` print those forms."""
    path = write_config(tmp_path, filled_db(tmp_path / "state.db"))
    assert main(["report", "-c", path, "--period", "1d", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        report = json.loads(out)
        assert report["period"]["label"] == "1d"
        assert [c["name"] for c in report["checks"]] == ["api", "db"]
    else:
        assert out.startswith("# sentinel report: ")
        assert "## Checks" in out


def test_cli_report_honours_sentinel_storage_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SENTINEL_STORAGE_URL overrides the file's storage.url, as for the daemon."""
    db = filled_db(tmp_path / "other.db")
    path = write_config(tmp_path, tmp_path / "empty.db")
    monkeypatch.setenv("SENTINEL_STORAGE_URL", f"sqlite:///{db}")
    assert main(["report", "-c", path, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["incidents"]["total"] == 3


@pytest.mark.parametrize("period", ["soon", "0s", "-1d", ""])
def test_cli_report_bad_period_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], period: str
) -> None:
    """A period that is not a positive duration exits 2 with a message on stderr."""
    path = write_config(tmp_path, tmp_path / "state.db")
    assert main(["report", "-c", path, f"--period={period}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("--period: ")


# -- scheduled reports ---------------------------------------------------------------


class CannedStore:
    """A store that answers at once with fixed data (no thread, so FakeClock settles)."""

    def __init__(self) -> None:
        self.periods: list[tuple[float, float]] = []

    async def uptime_days(
        self, since_day: int, checks: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int, int, int, float]]]:
        return {"api": [(d, 99, 100, 1.0) for d in range(since_day, since_day + 40)]}

    async def durations(self, check: str, since: float, until: float) -> list[float]:
        return [0.01]

    async def incidents(
        self, *, limit: int = 50, offset: int = 0, since: float | None = None
    ) -> list[Incident]:
        assert since is not None
        return [incident(1, "critical", since + 60, since + 120, since + 660)]

    async def notification_counts(self, since: float, until: float) -> dict[tuple[str, str], int]:
        self.periods.append((since, until))
        return {}

    async def slo_days(
        self, slo: str, since_minute: int, until_minute: int
    ) -> list[tuple[int, int, int]]:
        return []


Sent = list[tuple[str, list[str], Notice]]


async def start(
    cfg: Config, clock: FakeClock, sent: Sent
) -> tuple[asyncio.Task[None], CannedStore]:
    store = CannedStore()

    async def send(name: str, targets: Sequence[str], notice: Notice) -> None:
        sent.append((name, list(targets), notice))

    task = asyncio.create_task(ReportScheduler(cfg, store, clock, send).run())
    return task, store


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_daily_report_fires_at_local_17_across_dst() -> None:
    """Europe/London 17:00 is 17:00 UTC before 29 March 2026 and 16:00 UTC after."""
    cfg = config(
        reports=[
            {
                "name": "daily",
                "cron": "0 17 * * *",
                "period": "1d",
                "notify": ["slack-alerts"],
                "timezone": "Europe/London",
            }
        ]
    )
    clock = FakeClock(datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    sent: Sent = []
    task, store = await start(cfg, clock, sent)
    await clock.advance(4 * DAY)
    await stop(task)
    fired = [datetime.fromtimestamp(n.at, UTC) for _, _, n in sent]
    assert fired == [
        datetime(2026, 3, 27, 17, 0, tzinfo=UTC),
        datetime(2026, 3, 28, 17, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 16, 0, tzinfo=UTC),
    ]
    london = ZoneInfo("Europe/London")
    assert {f.astimezone(london).hour for f in fired} == {17}
    assert store.periods[2] == (fired[2].timestamp() - DAY, fired[2].timestamp())


async def test_weekly_report_fires_on_monday_0900() -> None:
    """The example's weekly entry fires at 09:00 UTC on Mondays only."""
    cfg = config(
        reports=[
            {
                "name": "weekly",
                "cron": "0 9 * * MON",
                "period": "7d",
                "notify": ["email:ops@example.com"],
            }
        ]
    )
    clock = FakeClock(datetime(2026, 1, 7, 12, 0, tzinfo=UTC))  # a Wednesday
    sent: Sent = []
    task, _ = await start(cfg, clock, sent)
    await clock.advance(14 * DAY)
    await stop(task)
    assert [datetime.fromtimestamp(n.at, UTC) for _, _, n in sent] == [
        datetime(2026, 1, 12, 9, 0, tzinfo=UTC),
        datetime(2026, 1, 19, 9, 0, tzinfo=UTC),
    ]
    assert all(t == ["email:ops@example.com"] for _, t, _ in sent)


async def test_send_gets_the_rendered_summary() -> None:
    """send(name, targets, Notice(kind="report")) carries summary_text of the report."""
    cfg = config(
        reports=[
            {"name": "daily", "cron": "0 17 * * *", "period": "1d", "notify": ["slack-alerts"]}
        ]
    )
    clock = FakeClock(datetime(2026, 1, 5, 16, 0, tzinfo=UTC))
    sent: Sent = []
    task, _store = await start(cfg, clock, sent)
    await clock.advance(3600)
    await stop(task)
    [(name, targets, notice)] = sent
    assert (name, targets, notice.kind) == ("daily", ["slack-alerts"], "report")
    at = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
    expected = {**await build_report(CannedStore(), cfg, at, DAY), "name": "daily"}
    assert notice.text == summary_text(expected)
    assert notice.text.startswith("daily report 2026-01-04 17:00Z to 2026-01-05 17:00Z (1d)")
    assert "Incidents: 1 (critical 1); MTTA 1m; MTTR 10m" in notice.text


async def test_a_failing_send_does_not_stop_the_schedule() -> None:
    """A report that cannot be sent is logged; the next fire still happens."""
    cfg = config(
        reports=[
            {"name": "daily", "cron": "0 17 * * *", "period": "1d", "notify": ["slack-alerts"]}
        ]
    )
    clock = FakeClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    calls: list[float] = []

    async def send(name: str, targets: Sequence[str], notice: Notice) -> None:
        calls.append(notice.at)
        if len(calls) == 1:
            raise RuntimeError("outbox closed")

    scheduler = ReportScheduler(cfg, CannedStore(), clock, send)
    task = asyncio.create_task(scheduler.run())
    await clock.advance(2 * DAY)
    await stop(task)
    assert len(calls) == 2
    assert scheduler.fired == 1


async def test_no_reports_configured_returns_at_once() -> None:
    """Without reports: entries, run() ends instead of sleeping for ever."""
    clock = FakeClock()

    async def send(name: str, targets: Sequence[str], notice: Notice) -> None:
        raise AssertionError("nothing to send")

    await ReportScheduler(config(), CannedStore(), clock, send).run()
    assert clock.sleepers == 0


# -- notifiers given a report ------------------------------------------------------------


REPORT_NOTICE = Notice(
    kind="report",
    at=1_767_632_400.0,
    text="daily report 2026-01-04 17:00Z to 2026-01-05 17:00Z (1d): uptime 99.95% across 4 "
    "checks, 3 incidents\nIncidents: 3 (critical 1, high 2); MTTA 4m; MTTR 22m\n"
    "Worst checks: api 98.50%, db <99.90%>",
)


def test_report_templates_render_text_html_subject_and_short() -> None:
    """Every template a notifier uses knows kind "report"; HTML is escaped."""
    r = Renderer()
    assert r.text(REPORT_NOTICE) == REPORT_NOTICE.text
    assert r.subject(REPORT_NOTICE).startswith("[REPORT] daily report 2026-01-04 17:00Z")
    html = r.html(REPORT_NOTICE)
    assert "<h2" in html
    assert "db &lt;99.90%&gt;" in html
    assert r.short(REPORT_NOTICE).endswith(
        "across 4 checks, 3 incidents; Incidents: 3 (critical 1, high 2); MTTA 4m; MTTR 22m"
    )
    assert r.status(REPORT_NOTICE) == "REPORT"


async def test_pagerduty_refuses_a_report_for_good() -> None:
    """PagerDuty would open an incident nobody resolves: a permanent 'unsupported' error."""
    channel = PagerDutyChannel.model_validate({"type": "pagerduty", "routing_key": "k" * 32})
    async with aiohttp.ClientSession() as session:
        notifier = PagerDutyNotifier(channel, session=session, renderer=Renderer(), now=lambda: 0.0)
        with pytest.raises(DeliveryError) as caught:
            await notifier.send(REPORT_NOTICE, None, None)
    assert (caught.value.retry, caught.value.reason) == (False, "unsupported")


async def test_sms_sends_a_short_report() -> None:
    """An SMS report is one GSM-7 segment: the headline and as much of the rest as fits."""
    channel = SmsChannel.model_validate(
        {
            "type": "sms",
            "account_sid": "AC" + "0" * 32,
            "auth_token": "t" * 32,
            "from": "+15550100000",
        }
    )
    async with aiohttp.ClientSession() as session:
        notifier = SmsNotifier(channel, session=session, renderer=Renderer(), now=lambda: 0.0)
        body = notifier.body(REPORT_NOTICE)
    assert body.startswith("daily report 2026-01-04 17:00Z to 2026-01-05 17:00Z (1d): uptime")
    assert gsm_cost(body) <= 160
    assert "ACK" not in body
