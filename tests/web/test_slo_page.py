"""The SLO section of the status page (issue 19): its view data from real SLO counters,
its SVG (budget bar, burn-down) and the page a real daemon serves, with and without SLOs.
The same page in a real browser: tests/web/test_browser.py."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from sentinel.app.daemon import Daemon
from sentinel.config import parse_config
from sentinel.rules.slo import Counters, status
from sentinel.rules.slo_engine import SloEngine
from sentinel.store import open_store
from sentinel.web import slo_page, slo_views, svg
from tests.conftest import Target
from tests.polling import eventually
from tests.web.test_page import config_text, get, start_daemon

HOUR = 3600
DAY = 86400
NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)

SLO_CONFIG = """
checks:
  - {name: api, type: tcp, target: "127.0.0.1:1", interval: 10s}
  - {name: web, type: tcp, target: "127.0.0.1:1", interval: 10s}
slos:
  - name: api-availability
    match: {check: api}
    objective: 99%
    description: "The API <answers>"
  - name: web-latency
    match: {check: web}
    objective: 95%
    window: 1h
    indicator: latency
    threshold: 1s
"""


def engine_with(text: str = SLO_CONFIG) -> SloEngine:
    engine = SloEngine()
    engine.configure(parse_config(text, "slo.yaml", {}))
    return engine


def count(counters: Counters, start: float, hours: float, every: float, bad_every: int) -> None:
    """A run each ``every`` seconds from ``start`` for ``hours``; each ``bad_every``-th
    fails (0: none does)."""
    n = 0
    t = start
    while t < start + hours * HOUR:
        counters.add(t, not (bad_every and n % bad_every == bad_every - 1))
        n += 1
        t += every


# -- view data -------------------------------------------------------------------------


def test_burn_down_spends_the_window_budget_bucket_by_bucket() -> None:
    """It starts at 100% with the first run, drops by each bucket's bad runs over the
    window's allowed bad runs, and ends at the budget left; None before any run."""
    good, total = [0, 100, 98, 100, 99], [0, 100, 100, 100, 100]
    points = slo_views.burn_down(good, total, 0.99)  # 400 runs: 4 bad allowed, 3 spent
    assert points[0] is None
    assert points[1:] == pytest.approx([1.0, 0.5, 0.5, 0.25])
    assert slo_views.burn_down([0] * 3, [0] * 3, 0.99) == [None, None, None]
    overspent = slo_views.burn_down([90], [100], 0.99)
    assert overspent == [pytest.approx(-9.0)]


def test_burn_down_ends_where_the_status_says_for_hour_and_minute_windows() -> None:
    """The last point is the budget left that status() computes, from the same buckets:
    hours for a 30d window, minutes for a 1h one (the current partial bucket included)."""
    engine = engine_with()
    at = NOW.timestamp()
    for name, every, bad in (("api-availability", 60.0, 50), ("web-latency", 10.0, 40)):
        counters = engine.counters(name)
        assert counters is not None
        count(counters, at - 2 * DAY, 48, every, bad)
        slo = next(s for s in engine.slos if s.name == name)
        assert isinstance(slo.window, float)  # rolling windows here
        start, step, good, total = slo_views.window_counts(counters, at, slo.window)
        assert step == (3600 if slo.window > 6 * HOUR else 60)
        assert len(total) == (720 if slo.window == 30 * DAY else 60)
        assert start == (int(at // step) - len(total) + 1) * step
        ring = counters.hours if step == 3600 else counters.minutes
        first = int(start // step)
        assert list(zip(good, total, strict=True)) == [
            ring.bucket(i) for i in range(first, first + len(total))
        ]
        points = slo_views.burn_down(good, total, slo.ratio)
        expected = status(slo, counters, at).budget_remaining
        assert expected is not None
        assert points[-1] == pytest.approx(expected)


def test_thinned_keeps_first_and_last() -> None:
    points: list[float | None] = [float(i) for i in range(721)]
    out = slo_views.thinned(points, 120)
    assert len(out) == 120
    assert (out[0], out[-1]) == (0.0, 720.0)
    assert slo_views.thinned(points[:5], 120) == points[:5]


def test_burn_down_text_names_start_end_and_the_worst_hour() -> None:
    """Of 1000 runs against 99%, 10 bad may be: 1 then 5 bad leave 40%."""
    start = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    good, total = [0, 250, 249, 245, 250], [0, 250, 250, 250, 250]
    text = slo_views.burn_down_text(good, total, 0.99, start, 3600, "30d")
    assert text == (
        "error budget over the last 30d: from 100% at 2026-11-01 01:00 UTC to 40.0% now; "
        "the hour from 2026-11-01 03:00 UTC spent the most (50.0%)"
    )
    first_bucket_spends = slo_views.burn_down_text([97, 99], [100, 100], 0.95, start, 60, "1h")
    assert first_bucket_spends.endswith(
        "the minute from 2026-11-01 00:00 UTC spent the most (30.0%)"
    )
    assert slo_views.burn_down_text([0, 0], [0, 0], 0.99, start, 3600, "30d") == (
        "error budget over the last 30d: no runs yet"
    )
    clean = slo_views.burn_down_text([5, 5], [5, 5], 0.99, start, 3600, "30d")
    assert "spent the most" not in clean


def test_slo_panel_figures_in_config_order_and_the_worst_beyond_the_limit() -> None:
    """Each SLO's figures at the time asked, its burn-down thinned to 120 points; with
    more SLOs than shown, those with the least budget left (per the keeper's statuses)."""
    engine = engine_with()
    at = NOW.timestamp()
    api, web = engine.counters("api-availability"), engine.counters("web-latency")
    assert api is not None
    assert web is not None
    count(api, at - 10 * DAY, 240, 60.0, 200)  # 0.5% bad against 1%: half the budget left
    count(web, at - HOUR, 1, 10.0, 0)
    rows, hidden = slo_views.slo_panel(engine, engine.statuses(NOW), NOW)
    assert hidden == 0
    assert [r["name"] for r in rows] == ["api-availability", "web-latency"]
    api_row = rows[0]
    assert api_row["objective"] == 0.99
    assert api_row["window"] == "30d"
    assert api_row["attainment"] == pytest.approx(0.995, abs=1e-4)
    assert api_row["budget_remaining"] == pytest.approx(0.5, abs=0.01)
    assert len(api_row["burn_down"]) == 120
    assert api_row["burn_down"][-1] == pytest.approx(api_row["budget_remaining"])
    assert api_row["burn_down_text"].startswith("error budget over the last 30d: from 100% at ")
    assert rows[1]["budget_remaining"] == 1.0
    assert rows[1]["threshold"] == 1.0
    burn = next(st for st in engine.statuses(NOW) if st.name == "api-availability").burn["1h"]
    assert burn is not None
    assert api_row["burn_1h"] == burn
    assert api_row["exhaustion"] == pytest.approx(api_row["budget_remaining"] * 30 * DAY / burn)
    without_statuses, _ = slo_views.slo_panel(engine, [], NOW)  # just after a reload
    assert without_statuses[0]["burn_1h"] is None
    assert without_statuses[0]["firing"] == []
    assert without_statuses[0]["budget_remaining"] == api_row["budget_remaining"]

    statuses = engine.statuses(NOW)
    worst, hidden = slo_views.slo_panel(engine, statuses, NOW, most=1)
    assert [r["name"] for r in worst] == ["api-availability"]
    assert hidden == 1


def test_slo_panel_without_slos_is_empty() -> None:
    engine = engine_with("checks: [{name: api, type: tcp, target: '127.0.0.1:1'}]\n")
    assert slo_views.slo_panel(engine, [], NOW) == ([], 0)


def test_slo_rows_text_for_people_and_text_alternatives() -> None:
    engine = engine_with()
    at = NOW.timestamp()
    api = engine.counters("api-availability")
    assert api is not None
    count(api, at - 73 * HOUR, 73, 10.0, 20)  # 5% bad against 1%, over the ticket's 3d: overspent
    panel, _ = slo_views.slo_panel(engine, engine.statuses(NOW), NOW)
    api_row, web_row = slo_page.slo_rows(panel)
    assert api_row.objective == "99%"
    assert api_row.attainment == "95.000%"
    assert api_row.budget == "-400.0% (overspent)"
    assert api_row.exhaustion == "spent"
    assert 'aria-label="error budget left: -400.0% (overspent)"' in api_row.bar
    assert api_row.firing == ["ticket"]  # 5x: the 1x pair holds, not the pages
    assert 'role="img"' in api_row.burn_down
    assert web_row.indicator == "latency, faster than 1s"
    assert web_row.budget == "no runs yet"
    assert web_row.attainment == "-"
    assert web_row.burn == "-"
    assert 'aria-label="error budget over the last 1h: no runs yet"' in web_row.burn_down


# -- SVG -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remaining", "colour", "width"),
    [
        (1.0, svg.GREEN, "120.0"),
        (0.4, svg.LIME, "48.0"),
        (0.1, svg.AMBER, "12.0"),
        (-2.0, svg.RED, "0.0"),
        (None, svg.GREY, "0.0"),
    ],
)
def test_budget_bar_fills_its_share(remaining: float | None, colour: str, width: str) -> None:
    bar = svg.budget_bar(remaining, "left <x>")
    assert f'<rect width="{width}" height="12" rx="2" fill="{colour}"/>' in bar
    assert 'aria-label="left &lt;x&gt;"' in bar
    assert "<title>left &lt;x&gt;</title>" in bar


def test_burn_down_line_scales_to_the_lowest_point_and_marks_zero() -> None:
    line = svg.burn_down([None, 1.0, 0.5, -7.0], "budget")  # drawn down to -100%
    points = re.search(r'points="([^"]+)"', line)
    assert points is not None
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert len(ys) == 3  # the missing point is not drawn
    assert ys[0] == pytest.approx(2.5)
    assert ys[-1] == pytest.approx(33.5)
    assert 'stroke-dasharray="3 2"' in line  # the zero line, since it is crossed
    assert 'stroke="#d1242f"' in line
    healthy = svg.burn_down([1.0, 0.9], "budget")
    assert "stroke-dasharray" not in healthy
    assert "<polyline" not in svg.burn_down([None], "no runs yet")
    assert '<circle cx="237.5" cy="2.5" r="2"' in svg.burn_down([None, 1.0], "one point")


# -- the page a real daemon serves -------------------------------------------------------


def slo_config_text(tmp_path: Path, up_url: str) -> str:
    text = config_text(tmp_path, allow_ack=False, up_url=up_url)
    return text.replace(
        "rules:\n",
        "slos:\n"
        "  - {name: dead-availability, match: {check: dead}, objective: 99.9%,"
        ' description: "Dead <b>on</b> purpose"}\n'
        "  - {name: shop-latency, match: {service: shop}, objective: 95%,"
        " indicator: latency, threshold: 1s}\n"
        "rules:\n",
        1,
    )


SEEDED = 60  # runs start_seeded counts before the daemon's own


async def start_seeded(tmp_path: Path, text: str) -> Daemon:
    """A daemon whose dead-availability SLO has an hour of history as dead as the check, a
    failed run a minute up to 5 minutes ago: page-fast judges only a covered hour
    (docs/slos.md); the figures are those of a check that never answered."""
    store = open_store(parse_config(text, "slo.yaml", {}).storage.url.get_secret_value())
    await store.open()
    now = int(time.time() // 60)
    await store.save_slo_minutes([("dead-availability", m, 0, 1) for m in range(now - 65, now - 5)])
    await store.close()
    return await start_daemon(tmp_path, text)


@pytest.fixture
async def slo_daemon(tmp_path: Path, target: Target) -> AsyncIterator[Daemon]:
    daemon = await start_seeded(tmp_path, slo_config_text(tmp_path, target.url))
    yield daemon
    await daemon.stop()
    structlog.reset_defaults()


def slo_runs(daemon: Daemon) -> int:
    keeper = daemon.slo_keeper
    assert keeper is not None
    return sum(s.total for s in keeper.engine.statuses(daemon.clock.now()))


async def test_page_shows_each_slo_with_bar_and_burn_down(slo_daemon: Daemon) -> None:
    await eventually(lambda: slo_runs(slo_daemon) >= SEEDED + 4, seconds=10)
    assert slo_daemon.slo_keeper is not None
    slo_daemon.slo_keeper.refresh()  # the pairs that hold: the keeper's, once a minute
    shown = await get(slo_daemon)
    assert shown.status == 200
    html = shown.text
    section = html[html.index('<section id="slos">') : html.index('<section id="checks">')]
    row = section[section.index('id="slo-dead-availability"') :]
    row = row[: row.index("</tr>")]
    assert '99.9% <span class="muted">over 30d</span>' in row
    assert "0.000%" in row  # every run of the dead check failed
    assert 'aria-label="error budget left: ' in row
    assert "(overspent)" in row
    assert '<svg class="burndown"' in row
    assert 'aria-label="error budget over the last 30d: from 100% at ' in row
    assert "page-fast" in row
    assert "Dead &lt;b&gt;on&lt;/b&gt; purpose" in row  # escaped, not markup
    assert 'id="slo-shop-latency"' in section


async def test_page_without_slos_has_no_slo_section(tmp_path: Path, target: Target) -> None:
    daemon = await start_daemon(tmp_path, config_text(tmp_path, allow_ack=False, up_url=target.url))
    try:
        shown = await get(daemon)
        assert shown.status == 200
        assert 'id="slos"' not in shown.text
        assert "Service level objectives" not in shown.text
    finally:
        await daemon.stop()
        structlog.reset_defaults()
