"""``GET /api/v1/slos`` and ``/api/v1/slos/{name}`` in their typed shape (issue 19), and
``sentinel slo --explain``'s account of the windows and what would fire, from the
API's objects as a real daemon serves them and as the engine computes them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import structlog

from sentinel.app.daemon import Daemon
from sentinel.cli.main import main
from sentinel.cli.slo import duration, explain, table
from sentinel.clock import FakeClock
from sentinel.config import parse_config
from sentinel.routing.quiet import slo_holds
from sentinel.rules.slo import status
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.store.sqlite import SqliteStore
from sentinel.web import models as m
from sentinel.web.slo_api import one_slo_view, slo_view, slos_view
from tests.conftest import Target
from tests.polling import eventually
from tests.rules.test_slo_table import CASES, varied
from tests.rules.test_slo_table import NOW as CASES_NOW
from tests.web.test_page import base_url
from tests.web.test_slo_page import (
    SEEDED,
    SLO_CONFIG,
    count,
    engine_with,
    slo_config_text,
    slo_runs,
    start_seeded,
)

HOUR = 3600
INHIBIT = """
rules:
  - {name: ServiceDown, match: {check: api}, expr: up == 0, severity: critical}
inhibit:
  - source: {alert: ServiceDown}
    target: {labels: {slo: api-availability}}
"""
NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
async def slo_daemon(tmp_path: Path, target: Target) -> AsyncIterator[Daemon]:
    daemon = await start_seeded(tmp_path, slo_config_text(tmp_path, target.url))
    yield daemon
    await daemon.stop()
    structlog.reset_defaults()


async def test_slos_list_and_one_slo_in_the_documented_shape(slo_daemon: Daemon) -> None:
    """Each SLO has its objective, attainment, budget left, burn rate per window, time to
    exhaustion and pairs; one SLO by name; an unknown name is a JSON 404."""
    await eventually(lambda: slo_runs(slo_daemon) >= SEEDED + 4, seconds=10)
    keeper = slo_daemon.slo_keeper
    assert keeper is not None
    keeper.refresh()
    async with aiohttp.ClientSession(base_url(slo_daemon)) as http:
        async with http.get("/api/v1/slos") as resp:
            assert resp.status == 200
            listed = m.SloList.model_validate(await resp.json())
        async with http.get("/api/v1/slos/dead-availability") as resp:
            assert resp.status == 200
            one = m.Slo.model_validate(await resp.json())
        async with http.get("/api/v1/slos/nope") as resp:
            assert resp.status == 404
            assert m.Error.model_validate(await resp.json()).error == "no SLO named 'nope'"
    assert [s.name for s in listed.slos] == ["dead-availability", "shop-latency"]
    assert one == listed.slos[0]
    assert one.objective == 0.999
    assert one.window == "30d"
    assert one.attainment == 0.0
    assert one.error_budget_remaining == pytest.approx(-999.0)
    assert one.exhaustion_seconds == 0.0
    assert set(one.burn_rates) == {"5m", "30m", "1h", "6h", "3d"}
    assert one.burn_rates["5m"] == pytest.approx(1000.0)
    pairs = {p.name: p for p in one.alerts}
    assert pairs["page-fast"].factor == 14.4
    assert (pairs["page-fast"].long, pairs["page-fast"].short) == ("1h", "5m")
    assert pairs["page-fast"].firing
    assert listed.slos[1].threshold_seconds == 1.0


def test_the_views_come_from_the_keepers_table_and_the_config_of_now(tmp_path: Path) -> None:
    """The list and one SLO's view are built from the keeper's last refresh, for the SLOs
    configured now: after a reload, an SLO removed is gone at once, one added shows from
    the next refresh (its figures are not known before)."""
    engine = varied()
    keeper = SloKeeper(engine, SqliteStore(str(tmp_path / "unopened.db")), FakeClock(CASES_NOW))
    keeper.refresh()
    by_name = {s.name: s for s in engine.statuses(CASES_NOW)}
    config = {s.name: s for s in engine.slos}

    listed = slos_view(keeper)

    assert listed == [slo_view(config[name], by_name[name]) for name in config]
    assert one_slo_view(keeper, "db-weekly") == listed[4]
    assert listed[0]["firing"] == ["page-fast", "page-slow", "ticket"]
    assert listed[5]["attainment"] is None  # idle: no runs
    assert one_slo_view(keeper, "nope") is None
    assert slos_view(None) == []
    assert one_slo_view(None, "idle") is None

    reloaded = CASES.replace("name: db-weekly", "name: db-weekly-2")
    engine.configure(
        parse_config(reloaded.replace("{name: idle, match", "{name: quiet, match"), "t", {})
    )

    assert [v["name"] for v in slos_view(keeper)] == list(config)[:4]
    assert one_slo_view(keeper, "idle") is None  # removed
    assert one_slo_view(keeper, "quiet") is None  # not refreshed since it was added
    keeper.refresh()
    assert [v["name"] for v in slos_view(keeper)][4:] == ["db-weekly-2", "quiet"]
    assert one_slo_view(keeper, "quiet") == slos_view(keeper)[5]


def view_after(bad_every: int) -> dict[str, object]:
    """The API object of a 99% SLO counted for 8 hours, one run in ``bad_every`` bad."""
    engine = engine_with()
    counters = engine.counters("api-availability")
    assert counters is not None
    count(counters, NOW.timestamp() - 73 * HOUR, 73, 10.0, bad_every)  # the ticket's 3d
    slo = next(s for s in engine.slos if s.name == "api-availability")
    return slo_view(slo, status(slo, counters, NOW.timestamp()))


def test_explain_shows_what_each_pair_needs_and_which_window_holds_it_back() -> None:
    """10x burn (10% bad against 1%): page-fast needs 14.4% bad, page-slow 6%, ticket
    1%; the 6x and 1x pairs fire, the 14.4x one is held back by both its windows."""
    text = explain(view_after(10))
    assert "api-availability: availability 99.000% over 30d" in text
    assert "error budget: 1.000% of the runs may be bad; left " in text
    lines: dict[str, str] = {}  # each pair's first line: its row in the first table
    for line in text.splitlines():
        if line.startswith("page-"):
            lines.setdefault(line.split()[0], line)
    assert ">= 14.40% bad over 1h and 5m" in lines["page-fast"]
    assert "quiet (1h and 5m below)" in lines["page-fast"]
    assert ">= 6.00% bad over 6h and 30m" in lines["page-slow"]
    assert lines["page-slow"].rstrip().endswith("FIRING")
    assert text.rstrip().endswith(
        "Firing now: page-slow, ticket (rule SLO:api-availability:<pair>)."
    )


def test_explain_says_what_resolves_a_firing_pair_and_how_long_a_hold_lasts() -> None:
    """Once firing, a pair resolves when its long window drops below the factor or its
    short window below factor x hysteresis (0.5 by default, 1 for page-slow here); with
    an inhibit rule each pair is held for its short window plus a minute after the
    inhibiting alert resolves, and says so."""
    text = SLO_CONFIG.replace(
        "    objective: 99%\n",
        "    objective: 99%\n    alerts: {page-slow: {hysteresis: 1}}\n",
        1,
    )
    config = parse_config(text + INHIBIT, "slo.yaml", {})
    engine = engine_with(text + INHIBIT)
    counters = engine.counters("api-availability")
    assert counters is not None
    count(counters, NOW.timestamp() - 73 * HOUR, 73, 10.0, 10)
    slo = next(s for s in engine.slos if s.name == "api-availability")
    view = slo_view(slo, status(slo, counters, NOW.timestamp()), slo_holds(config))
    pairs = {p["name"]: p for p in view["alerts"]}
    assert (pairs["page-fast"]["hysteresis"], pairs["page-fast"]["inhibition_hold"]) == (0.5, "6m")
    assert (pairs["page-slow"]["hysteresis"], pairs["page-slow"]["inhibition_hold"]) == (1, "31m")
    lines = {line.split()[0]: line for line in explain(view).splitlines() if line.strip()}
    assert "1h < 14.4x or 5m < 7.2x  " in lines["page-fast"]
    assert lines["page-fast"].endswith("6m after the inhibiting alert resolves")
    assert "6h < 6x or 30m < 6x  " in lines["page-slow"]
    assert lines["ticket"].endswith("6h1m after the inhibiting alert resolves")
    assert "a pair stays inhibited while that alert is pending (if" in " ".join(
        explain(view).split()
    )


def test_explain_without_a_hold() -> None:
    """No inhibit rules (or ``inhibition_hold: false``): the hold is off, and the text
    says only what keeps a pair firing."""
    text = explain(view_after(10))
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("page-")}
    assert "1h < 14.4x or 5m < 7.2x" in lines["page-fast"]  # its row in the second table
    assert lines["page-fast"].endswith("off")
    assert "short window at factor x hysteresis." in " ".join(text.split())
    assert "inhibited" not in text


def test_explain_when_nothing_burns() -> None:
    text = explain(view_after(0))
    assert "left 100.0%, not burning over the last hour" in text
    assert "quiet (6h and 30m below)" in text
    assert text.rstrip().endswith("a pair fires when both its windows reach its factor.")


def test_explain_tells_when_the_budget_is_gone() -> None:
    """1 run in 200 bad (0.5%, 0.5x): the 30d budget lasts 60 days at this rate."""
    view = view_after(200)
    assert view["exhaustion_seconds"] is not None
    assert "gone in " in explain(view)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (60, "1m"), (3700, "1h 1m"), (90000, "1d 1h"), (86400 * 59.9, "59d 21h")],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


async def test_cli_explain_against_the_daemon(
    slo_daemon: Daemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sentinel slo --explain` against a running daemon: exit 0 and the account; an
    unknown name: exit 1."""
    await eventually(lambda: slo_runs(slo_daemon) >= SEEDED + 4, seconds=10)
    keeper = slo_daemon.slo_keeper
    assert keeper is not None
    keeper.refresh()
    url = ["-c", str(tmp_path / "sentinel.yaml"), "--url", base_url(slo_daemon)]
    args = ["slo", *url, "--explain", "dead-availability"]
    assert await asyncio.to_thread(main, args) == 0
    out = capsys.readouterr().out
    assert "error budget: 0.100% of the runs may be bad; left -99900.0%, spent" in out
    assert "FIRES WHEN" in out
    assert await asyncio.to_thread(main, ["slo", *url, "--explain", "nope"]) == 1


def test_the_cli_never_rounds_a_missed_objective_up_to_it() -> None:
    """Against 99.999%, an attainment of 99.99891% is a miss (budget overspent): the
    table and --explain show 99.998% (rounded down, as the status page does), and an
    objective of 99.9995% reads 99.9995%. Before: both read "99.999%" (rounded half
    up: missed, shown as met) and the objective "100.000%"."""
    view = {
        "name": "five-nines",
        "objective": 0.99999,
        "window": "30d",
        "attainment": 1 - 1.09e-5,
        "error_budget_remaining": -0.09,
        "burn_rates": {"1h": 1.2},
        "firing": [],
    }
    row = table([view]).splitlines()[-1].split()
    assert row[1:4] == ["99.999%", "30d", "99.998%"]
    assert table([{**view, "objective": 0.999995}]).splitlines()[-1].split()[1] == "99.9995%"
    assert table([{**view, "objective": 0.999}]).splitlines()[-1].split()[1] == "99.900%"
