"""SLO attainment in reports (issue 19): per SLO per period against the objective, from
the SLO engine's per-minute counters in the store, in every form a report takes (table,
Markdown, JSON, the scheduled notice's summary)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel.cli.main import main
from sentinel.config import parse_config
from sentinel.reports.build import build_report
from sentinel.reports.figures import missed_slos, slo_by, slo_figures, slo_report
from sentinel.reports.render import render_report, summary_text
from sentinel.store.sqlite import SqliteStore

DAY = 86400
END = datetime(2026, 5, 8, 17, 0, tzinfo=UTC)  # a Friday
CONFIG = """
storage: {{url: "sqlite:{db}"}}
checks:
  - {{name: api, type: tcp, target: "127.0.0.1:1"}}
  - {{name: web, type: tcp, target: "127.0.0.1:1"}}
slos:
  - {{name: api-availability, match: {{check: api}}, objective: 99.9%}}
  - {{name: web-latency, match: {{check: web}}, objective: 95%, indicator: latency,
     threshold: 1s}}
  - {{name: idle, match: {{check: web}}, objective: 99%}}
"""


def test_slo_figures_against_the_objective() -> None:
    assert slo_figures(0.999, 9990, 10_000) == {
        "attainment_percent": 99.9,
        "met": True,
        "error_budget_remaining": 0.0,
    }
    missed = slo_figures(0.999, 9985, 10_000)
    assert missed["met"] is False
    assert missed["error_budget_remaining"] == pytest.approx(-0.5)
    assert slo_figures(0.99, 0, 0) == {
        "attainment_percent": None,
        "met": None,
        "error_budget_remaining": None,
    }


def test_slo_by_day_week_and_month() -> None:
    """2026-04-27 is a Monday (day 20570): days group into ISO weeks and months."""
    rows = [(20570, 99, 100), (20571, 100, 100), (20577, 90, 100), (20574, 0, 0)]
    weeks = slo_by(rows, 0.99, "week")
    assert [(w["label"], w["runs"], w["good"], w["met"]) for w in weeks] == [
        ("2026-W18", 200, 199, True),
        ("2026-W19", 100, 90, False),
    ]
    months = slo_by(rows, 0.99, "month")
    assert [(m["label"], m["runs"]) for m in months] == [("2026-04", 200), ("2026-05", 100)]
    days = slo_by(rows, 0.99, "day")
    assert days[2] == {
        "label": "2026-05-01",
        "runs": 0,
        "good": 0,
        "attainment_percent": None,
        "met": None,
        "error_budget_remaining": None,
    }


def test_slo_report_units_follow_the_period_and_first_day_says_what_is_kept() -> None:
    rows = [(20570, 0, 0), (20571, 999, 1000)]
    week = slo_report("api", 0.999, rows, 7 * DAY)
    assert week["first_day"] == "2026-04-28"
    assert (week["runs"], week["good"], week["bad"]) == (1000, 999, 1)
    assert week["objective_percent"] == 99.9
    assert "weekly" in week
    assert "monthly" not in week
    assert "weekly" not in slo_report("api", 0.999, rows, DAY)
    assert "monthly" in slo_report("api", 0.999, rows, 30 * DAY)
    assert slo_report("api", 0.999, [], DAY)["first_day"] is None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "state.db"))
    await s.open()
    yield s
    await s.close()


async def fill(store: SqliteStore, end: datetime) -> None:
    """A week of minutes before ``end``: api 1 bad run in 500 (99.8%, missing 99.9%),
    web-latency 1 slow in 50 (98%, meeting 95%); idle none; and minutes outside."""
    last = int(end.timestamp() // 60)
    rows = []
    for minute in range(last - 7 * 1440, last):
        n = minute - (last - 7 * 1440)
        rows.append(("api-availability", minute, 5 if n % 100 else 4, 5))
        rows.append(("web-latency", minute, 2 if n % 25 else 1, 2))
    rows.append(("api-availability", last - 8 * 1440, 0, 100))  # before the period
    rows.append(("api-availability", last + 5, 0, 100))  # after it
    rows.append(("removed-slo", last - 60, 0, 100))  # no longer configured
    await store.save_slo_minutes(rows)


async def test_build_report_has_each_configured_slo_against_its_objective(
    store: SqliteStore, tmp_path: Path
) -> None:
    await fill(store, END)
    config = parse_config(CONFIG.format(db=tmp_path / "state.db"), "x.yaml", {})
    report = await build_report(store, config, END, 7 * DAY)
    api, web, idle = report["slos"]
    assert api["name"] == "api-availability"
    assert (api["runs"], api["bad"]) == (7 * 1440 * 5, 101)  # minutes 0, 100, ..., 10000
    assert api["attainment_percent"] == pytest.approx(100 * (1 - 101 / 50400), abs=1e-4)
    assert api["met"] is False
    assert api["error_budget_remaining"] == pytest.approx(-1.004, abs=1e-3)
    assert api["first_day"] == "2026-05-01"
    assert len(api["daily"]) == 8  # the period touches 8 UTC days
    assert [w["label"] for w in api["weekly"]] == ["2026-W18", "2026-W19"]
    assert (web["objective_percent"], web["met"]) == (95.0, True)
    assert web["attainment_percent"] == pytest.approx(100 * (1 - 404 / 20160), abs=1e-4)
    assert web["error_budget_remaining"] == pytest.approx(0.5992, abs=1e-3)
    assert (idle["runs"], idle["met"], idle["attainment_percent"]) == (0, None, None)
    assert [s["name"] for s in missed_slos(report)] == ["api-availability"]
    assert json.loads(json.dumps(report)) == report


async def test_every_form_shows_the_slos(store: SqliteStore, tmp_path: Path) -> None:
    await fill(store, END)
    config = parse_config(CONFIG.format(db=tmp_path / "state.db"), "x.yaml", {})
    report = await build_report(store, config, END, 7 * DAY)

    table = render_report(report, "table")
    assert "SLOS\nSLO               OBJECTIVE  ATTAINMENT  MET  BUDGET LEFT  RUNS   BAD\n" in table
    assert "api-availability  99.9%      99.79%      NO   -100.4%      50400  101" in table
    assert "web-latency       95%        97.99%      yes  59.9%" in table
    assert "idle              99%        -           -    -            0      0" in table
    assert "SLO ATTAINMENT BY DAY" in table
    assert '"!" marks a missed objective' in table

    markdown = render_report(report, "markdown")
    assert (
        "## SLOs\n\n| SLO | Objective | Attainment | Met | Budget left | Runs | Bad |" in markdown
    )
    assert "| api-availability | 99.9% | 99.79% | NO | -100.4% | 50400 | 101 |" in markdown
    assert "## SLO attainment by day" in markdown

    assert json.loads(render_report(report, "json"))["slos"] == report["slos"]

    summary = summary_text(report)
    assert "SLOs: 1 of 2 met; missed: api-availability 99.79% < 99.9%" in summary.splitlines()


async def test_a_report_without_slos_has_no_slo_section(store: SqliteStore, tmp_path: Path) -> None:
    text = CONFIG.format(db=tmp_path / "state.db").split("slos:")[0]
    report = await build_report(store, parse_config(text, "x.yaml", {}), END, DAY)
    assert report["slos"] == []
    assert "SLO" not in render_report(report, "table")
    assert "SLO" not in summary_text(report)


def test_cli_report_prints_the_slos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sentinel report`` reads the SLO minutes from the store the config names."""
    db = tmp_path / "state.db"

    async def go() -> None:
        s = SqliteStore(str(db))
        await s.open()
        now = datetime.now(UTC)
        await fill(s, now.replace(second=0, microsecond=0))
        await s.close()

    asyncio.run(go())
    path = tmp_path / "sentinel.yaml"
    path.write_text(CONFIG.format(db=db))
    assert main(["report", "-c", str(path), "--period", "7d", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| api-availability | 99.9% | 99.79% | NO |" in out
