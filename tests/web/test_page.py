"""The status page: its pure pieces (SVG, CSRF verdicts, grouping, the uptime cache)
and the page served by a real daemon on loopback (a dead TCP port fires an alert), on
a fake clock the test moves; the HTTP is real."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from sentinel.app.daemon import Daemon
from sentinel.clock import Clock, FakeClock, SystemClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from sentinel.probes.results import Result, Sample
from sentinel.store import open_store
from sentinel.store.sqlite import SqliteStore
from sentinel.web import csrf, page, page_uptime, page_views, svg, views
from tests.conftest import Target, free_port
from tests.polling import Probe, run_daemon_until

# -- a real daemon on loopback ------------------------------------------------

WITHIN = 5.0  # fake seconds: the first results, the firing, its escalation and incident


def config_text(
    tmp_path: Path, *, allow_ack: bool, up_url: str, title: str = "Shop <status>"
) -> str:
    return f"""
server:
  listen: "127.0.0.1:0"
  status_page: {{title: "{title}", allow_ack: {str(allow_ack).lower()}, refresh: 5s}}
storage:
  url: "sqlite:{tmp_path}/state.db"
checks:
  - name: dead
    type: tcp
    target: "127.0.0.1:{free_port()}"
    interval: 200ms
    timeout: 200ms
    labels: {{service: shop}}
  - name: api
    type: http
    url: "{up_url}/health"
    interval: 300ms
    timeout: 300ms
    labels: {{service: shop}}
  - name: loose
    type: http
    url: "{up_url}/health"
    interval: 300ms
    timeout: 300ms
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical}}
channels:
  console: {{type: console}}
escalation:
  critical:
    - {{after: 0s, notify: [console]}}
    - {{after: 1h, notify: [console]}}
"""


async def start_daemon(tmp_path: Path, text: str, clock: Clock | None = None) -> Daemon:
    """The daemon on ``clock`` (the real one unless given: tests that wait in real time
    import this too)."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(text)
    config = load_config(path, {})
    daemon = Daemon(config, Settings(config=str(path)), clock or SystemClock(), {}, Redactor())
    await daemon.start()
    return daemon


async def until(daemon: Daemon, probe: Probe) -> None:
    """Run the daemon on its fake clock until ``probe`` answers true."""
    await run_daemon_until(daemon, probe, WITHIN)


def base_url(daemon: Daemon) -> str:
    host, port = daemon.listening[0]
    return f"http://{host}:{port}"


def firing_escalated(daemon: Daemon) -> bool:
    return any(
        a["check"] == "dead" and a["state"] == "firing" and a["escalation"]
        for a in daemon.status()["alerts"]
    )


@pytest.fixture
async def acking(tmp_path: Path, target: Target) -> AsyncIterator[Daemon]:
    text = config_text(tmp_path, allow_ack=True, up_url=target.url)
    daemon = await start_daemon(tmp_path, text, FakeClock())
    yield daemon
    await daemon.stop()
    structlog.reset_defaults()


@pytest.fixture
async def readonly(tmp_path: Path, target: Target) -> AsyncIterator[Daemon]:
    text = config_text(tmp_path, allow_ack=False, up_url=target.url)
    daemon = await start_daemon(tmp_path, text, FakeClock())
    yield daemon
    await daemon.stop()
    structlog.reset_defaults()


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]
    cookie: str | None


async def get(daemon: Daemon, path: str = "/", cookie: str | None = None) -> Page:
    headers = {"Cookie": f"{csrf.COOKIE}={cookie}"} if cookie else {}
    async with (
        aiohttp.ClientSession(base_url(daemon)) as http,
        http.get(path, headers=headers, allow_redirects=False) as resp,
    ):
        morsel = resp.cookies.get(csrf.COOKIE)
        return Page(
            resp.status,
            await resp.text(),
            dict(resp.headers),
            morsel.value if morsel is not None else None,
        )


async def post_ack(
    daemon: Daemon, fp: str, form: dict[str, str], headers: dict[str, str]
) -> aiohttp.ClientResponse:
    async with (
        aiohttp.ClientSession(base_url(daemon)) as http,
        http.post(
            f"/ui/alerts/{fp}/ack", data=form, headers=headers, allow_redirects=False
        ) as resp,
    ):
        await resp.read()
        return resp


def csrf_field(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def dead_alert(daemon: Daemon) -> dict[str, Any]:
    return next(a for a in daemon.status()["alerts"] if a["check"] == "dead")


# -- the page, served ------------------------------------------------------------


async def test_page_shows_checks_grouped_with_state_and_svg(acking: Daemon) -> None:
    """The dead check is red with its reason, grouped under its service (ungrouped last),
    with a sparkline and 90 uptime bars, under a summary line."""
    await until(acking, lambda: daemon_has_results(acking))
    shown = await get(acking)
    assert shown.status == 200
    assert shown.headers["Content-Type"].startswith("text/html")
    html = shown.text
    row = row_of(html, "dead")
    assert 'data-state="down"' in row
    assert "state state-down" in row
    assert "connection refused" in row
    assert "<polyline" in row
    assert 'fill="#d1242f"' in row
    assert row.count("<rect") == 90
    assert 'class="state state-up"' in row_of(html, "api")
    assert html.index("<summary>shop") < html.index("<summary>Other checks")
    assert re.search(r"2 up, 1 down, 0 pending, \d alerts? firing", html)
    assert '<meta http-equiv="refresh" content="5; url=/">' in html
    # one process: no members table, no "probed by" (tests/cluster/test_shared_view.py)
    assert 'id="members"' not in html
    assert "probed by" not in html


def daemon_has_results(daemon: Daemon) -> bool:
    return all(name in daemon.latest for name in ("dead", "api", "loose"))


def row_of(html: str, check: str) -> str:
    found = re.search(rf'<tr class="check" id="check-{check}".*?</tr>', html, re.S)
    assert found is not None, f"no row for {check}"
    return found.group(0)


async def test_page_sends_security_headers_and_escapes(acking: Daemon) -> None:
    """CSP without script, nosniff, same-origin referrers, no caching; the title and a
    silence comment with markup arrive escaped."""
    await acking.facade.add_silence(
        {"matchers": {"check": "api"}, "author": "bob", "comment": "<script>x()</script>"}
    )
    shown = await get(acking)
    csp = shown.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    assert "script-src" not in csp
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert shown.headers["Referrer-Policy"] == "same-origin"
    assert shown.headers["Cache-Control"] == "no-store"
    assert "<script" not in shown.text
    assert "&lt;script&gt;x()&lt;/script&gt;" in shown.text
    assert "<title>Shop &lt;status&gt;</title>" in shown.text
    forged = await get(acking, "/?acked=%3Cb%3Ecall+0800%3C/b%3E")
    assert 'id="flash"' not in forged.text  # the notice names an alert id or nothing


async def test_alert_shows_escalation_and_ack_form_with_csrf_cookie(acking: Daemon) -> None:
    """A firing alert shows severity, since, "step 1 of 2", who was told, and a form whose
    hidden field is HMAC(ack_key, cookie); the cookie is HttpOnly and SameSite=Strict."""
    await until(acking, lambda: firing_escalated(acking))
    shown = await get(acking)
    fp = dead_alert(acking)["fingerprint"]
    row = re.search(rf'<tr class="alert" id="alert-{fp}">.*?</tr>', shown.text, re.S)
    assert row is not None
    assert "critical" in row.group(0)
    assert "ServiceDown on <b>dead</b>" in row.group(0)
    assert "step 1 of 2" in row.group(0)
    assert "<td>console</td>" in row.group(0)
    assert f'action="/ui/alerts/{fp}/ack"' in row.group(0)
    assert shown.cookie is not None
    cookie_header = shown.headers["Set-Cookie"]
    assert "HttpOnly" in cookie_header
    assert "SameSite=Strict" in cookie_header
    assert "Path=/" in cookie_header
    expected = hmac.new(acking.ack_key, shown.cookie.encode(), hashlib.sha256).hexdigest()
    assert csrf_field(shown.text) == expected
    again = await get(acking, cookie=shown.cookie)
    assert again.cookie is None  # a valid cookie is kept, not replaced
    assert csrf_field(again.text) == expected


async def test_ack_form_posts_then_redirects_and_shows_who(acking: Daemon) -> None:
    """A same-origin POST with matching cookie and token acknowledges and answers 303 to
    the page, which then shows "acknowledged by alice" and no more form for it."""
    await until(acking, lambda: firing_escalated(acking))
    shown = await get(acking)
    assert shown.cookie is not None
    fp = dead_alert(acking)["fingerprint"]
    resp = await post_ack(
        acking,
        fp,
        {"csrf": csrf_field(shown.text), "by": "  alice  "},
        {"Cookie": f"{csrf.COOKIE}={shown.cookie}", "Origin": base_url(acking)},
    )
    assert resp.status == 303
    assert resp.headers["Location"] == f"/?acked={fp}"
    after = await get(acking, f"/?acked={fp}", cookie=shown.cookie)
    assert "acknowledged by alice" in after.text
    assert f"Alert {fp} acknowledged." in after.text
    assert f'action="/ui/alerts/{fp}/ack"' not in after.text
    assert 'content="5; url=/"' in after.text  # the refresh drops the notice


async def test_ack_refused_without_cookie_wrong_token_or_other_origin(acking: Daemon) -> None:
    """No cookie, a token for another cookie, a foreign Origin or Referer: 403 and the
    alert stays unacknowledged; an empty name is a 400."""
    await until(acking, lambda: firing_escalated(acking))
    shown = await get(acking)
    assert shown.cookie is not None
    token, fp = csrf_field(shown.text), dead_alert(acking)["fingerprint"]
    jar = {"Cookie": f"{csrf.COOKIE}={shown.cookie}"}
    other = "x" * 43
    cases = [
        ({"csrf": token, "by": "eve"}, {}),
        ({"csrf": csrf.csrf_token(acking.ack_key, other), "by": "eve"}, jar),
        ({"csrf": "0" * 64, "by": "eve"}, jar),
        ({"by": "eve"}, jar),
        ({"csrf": token, "by": "eve"}, {**jar, "Origin": "http://evil.example"}),
        ({"csrf": token, "by": "eve"}, {**jar, "Origin": "null"}),
        ({"csrf": token, "by": "eve"}, {**jar, "Referer": "http://evil.example/x"}),
    ]
    for form, headers in cases:
        resp = await post_ack(acking, fp, form, headers)
        assert resp.status == 403, (form, headers)
    assert dead_alert(acking)["escalation"]["acknowledged_by"] is None
    resp = await post_ack(acking, fp, {"csrf": token, "by": "  "}, jar)
    assert resp.status == 400


async def test_read_only_page_has_no_form_and_refuses_post(readonly: Daemon) -> None:
    """Without allow_ack the page has no form and sets no cookie, and the POST is 403
    even with a well-formed cookie and token."""
    await until(readonly, lambda: firing_escalated(readonly))
    shown = await get(readonly)
    assert "<form" not in shown.text
    assert "Acknowledge</button>" not in shown.text
    assert shown.cookie is None
    cookie = "y" * 43
    fp = dead_alert(readonly)["fingerprint"]
    resp = await post_ack(
        readonly,
        fp,
        {"csrf": csrf.csrf_token(readonly.ack_key, cookie), "by": "mallory"},
        {"Cookie": f"{csrf.COOKIE}={cookie}", "Origin": base_url(readonly)},
    )
    assert resp.status == 403
    assert dead_alert(readonly)["escalation"]["acknowledged_by"] is None


async def test_incident_listed_as_ongoing(acking: Daemon) -> None:
    """The dead check's incident appears under recent incidents, "ongoing"."""
    await until(acking, lambda: firing_escalated(acking))

    async def listed() -> bool:
        return "INC-" in (await get(acking)).text

    await until(acking, listed)
    html = (await get(acking)).text
    section = html[html.index('<section id="incidents">') :]
    assert re.search(r"<td>INC-\d{8}-\d{6}-[0-9a-f]{4}</td>", section)
    assert "<td>ongoing</td>" in section


async def test_page_survives_a_store_that_fails(acking: Daemon) -> None:
    """When incidents cannot be read (the real SQLite table is gone), the page still
    shows everything else."""
    store = acking.store
    assert isinstance(store, SqliteStore)
    await store.db.execute("ALTER TABLE incidents RENAME TO incidents_gone")
    shown = await get(acking)
    assert shown.status == 200
    assert "Incidents cannot be read from the store right now." in shown.text
    assert 'id="check-dead"' in shown.text


async def test_filter_and_pages_reach_every_check(
    acking: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one check a page, ?page= walks through all of them, and ?service= (empty:
    the ungrouped) narrows to one group."""
    await until(acking, lambda: daemon_has_results(acking))
    monkeypatch.setattr(page, "PAGE_SIZE", 1)
    seen = []
    for n in (1, 2, 3):
        html = (await get(acking, f"/?page={n}")).text
        seen += re.findall(r'<tr class="check" id="check-(\w+)"', html)
        assert f"Page {n} of 3" in html
    assert seen == ["dead", "api", "loose"]
    ungrouped = (await get(acking, "/?service=")).text
    assert re.findall(r'<tr class="check" id="check-(\w+)"', ungrouped) == ["loose"]
    shop = (await get(acking, "/?service=shop&page=2")).text
    assert re.findall(r'<tr class="check" id="check-(\w+)"', shop) == ["api"]
    assert 'content="5; url=/?service=shop&amp;page=2"' in shop


async def test_uptime_history_from_the_store(tmp_path: Path, target: Target) -> None:
    """Days already in the store draw coloured bars with tooltips and the 90-day
    percentage; days without runs are grey."""
    store = open_store(f"sqlite:{tmp_path}/state.db")
    await store.open()
    clock = FakeClock()
    yesterday = clock.now() - timedelta(days=1)
    await store.add_results(
        [
            Result("loose", "http", i != 0, yesterday, 0.01, None, (Sample("up", 1.0),))
            for i in range(10)
        ]
    )
    await store.close()
    text = config_text(tmp_path, allow_ack=False, up_url=target.url)
    daemon = await start_daemon(tmp_path, text, clock)
    try:
        row = row_of((await get(daemon)).text, "loose")
    finally:
        await daemon.stop()
    day = (clock.now().date() - timedelta(days=1)).isoformat()
    assert f'fill="{svg.RED}"><title>{day}: 90.00%</title>' in row
    assert f'fill="{svg.GREY}"><title>' in row
    assert "<td>90.00%</td>" in row


# -- pure pieces ---------------------------------------------------------------


def test_sparkline_draws_a_line_and_red_dots_for_failures() -> None:
    """One point per run scaled into the box, a red dot per failed run."""
    runs = [(0.1, True), (0.4, False), (0.2, True), (0.3, False)]
    out = svg.sparkline(runs, width=100, height=20)
    points = re.search(r'points="([^"]+)"', out)
    assert points is not None
    pairs = [tuple(map(float, p.split(","))) for p in points.group(1).split()]
    assert len(pairs) == 4
    assert all(0 <= x <= 100 and 0 <= y <= 20 for x, y in pairs)
    assert min(pairs, key=lambda p: p[1]) == pairs[1]  # the slowest run is the highest
    assert out.count("<circle") == 2
    assert out.count(f'fill="{svg.RED}"') == 2
    assert "400 ms" in out
    assert "2 failed" in out


def test_sparkline_without_runs_and_with_one() -> None:
    """No runs: an empty box with a title; one run (or all zero) still draws safely."""
    assert "<polyline" not in svg.sparkline([])
    assert "no runs yet" in svg.sparkline([])
    assert "<polyline" in svg.sparkline([(0.0, True)])
    assert "nan" not in svg.sparkline([(0.0, True), (0.0, False)])


def test_uptime_bars_one_rect_a_day_with_colour_and_tooltip() -> None:
    """90 bars, oldest first ending at the given day, coloured by ratio, grey and
    "no data" for missing days."""
    ratios: list[float | None] = [None] * 87 + [1.0, 0.98, 0.5]
    out = svg.uptime_bars(ratios, date(2026, 3, 31))
    assert out.count("<rect") == 90
    assert "<title>2026-01-01: no data</title>" in out
    assert f'fill="{svg.GREEN}"><title>2026-03-29: 100.00%</title>' in out
    assert f'fill="{svg.AMBER}"><title>2026-03-30: 98.00%</title>' in out
    assert f'fill="{svg.RED}"><title>2026-03-31: 50.00%</title>' in out


@pytest.mark.parametrize(
    ("ratio", "colour"),
    [
        (None, svg.GREY),
        (1.0, svg.GREEN),
        (0.999, svg.GREEN),
        (0.995, svg.LIME),
        (0.97, svg.AMBER),
        (0.5, svg.RED),
    ],
)
def test_uptime_colour_by_ratio(ratio: float | None, colour: str) -> None:
    """Thresholds: 99.9% green, 99% lime, 95% amber, below red, grey without data."""
    assert svg.uptime_colour(ratio) == colour


def test_percent_rounds_down_and_ratio_skips_missing_days() -> None:
    """99.999% reads 99.99% (100.00% only when nothing failed); the 90-day figure is the
    mean of the days with data."""
    assert svg.percent(0.99999) == "99.99%"
    assert svg.percent(1.0) == "100.00%"
    assert svg.percent(0.9) == "90.00%"
    assert svg.uptime_ratio([None, 1.0, 0.5]) == 0.75
    assert svg.uptime_ratio([None, None]) is None


KEY = b"server-secret"
COOKIE = "c" * 43
TOKEN = hmac.new(KEY, COOKIE.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("cookie", "token", "origin", "referer", "refused"),
    [
        (COOKIE, TOKEN, None, None, None),
        (COOKIE, TOKEN, "http://status.local:9464", "http://status.local:9464/", None),
        (None, TOKEN, None, None, "no form cookie"),
        ("short", csrf.csrf_token(KEY, "short"), None, None, "no form cookie"),
        (COOKIE, None, None, None, "does not match"),
        (COOKIE, TOKEN[:-1] + "0", None, None, "does not match"),
        (COOKIE, TOKEN, "http://evil.example", None, "Origin is another site"),
        (COOKIE, TOKEN, "null", None, "Origin is another site"),
        (COOKIE, TOKEN, None, "https://status.local.evil/", "Referer is another site"),
    ],
)
def test_csrf_refusal(
    cookie: str | None,
    token: str | None,
    origin: str | None,
    referer: str | None,
    refused: str | None,
) -> None:
    """The double-submit check: cookie and HMAC field must match, Origin and Referer
    (when sent) must name this host."""
    reason = csrf.csrf_refusal(
        key=KEY,
        cookie=cookie,
        token=token,
        host="status.local:9464",
        origin=origin,
        referer=referer,
    )
    if refused is None:
        assert reason is None
    else:
        assert reason is not None
        assert refused in reason


def test_group_checks_orders_services_then_ungrouped_broken_first() -> None:
    """Services by name, the checks without a service last; down before pending before up."""

    def check(name: str, state: str, service: str | None = None) -> dict[str, Any]:
        return {"name": name, "state": state, "labels": {"service": service} if service else {}}

    groups = page_views.group_checks(
        [
            check("z", "up"),
            check("b", "up", "web"),
            check("a", "up", "web"),
            check("c", "down", "web"),
            check("d", "pending", "db"),
        ]
    )
    assert [(k, [c["name"] for c in m]) for k, m in groups] == [
        ("db", ["d"]),
        ("web", ["c", "a", "b"]),
        ("", ["z"]),
    ]
    assert page_views.counts_of(groups[1][1]) == {
        "down": 1,
        "pending": 0,
        "unsupported": 0,
        "up": 2,
    }


def test_uptime_cache_takes_the_window_then_today() -> None:
    """The whole window replaces everything; a today-only answer changes the last day."""
    cache = page_uptime.UptimeCache(days=3)
    assert cache.get("a") == [None, None, None]
    cache.apply(100, {"a": [1.0, None, 0.5]}, whole=True)
    assert cache.get("a") == [1.0, None, 0.5]
    cache.apply(100, {"a": [0.25], "b": [1.0]}, whole=False)
    assert cache.get("a") == [1.0, None, 0.25]
    assert cache.get("b") == [None, None, 1.0]
    assert cache.day == 100
    assert cache.loaded.is_set()


def test_when_and_human() -> None:
    """Times read as UTC with how long ago; durations in d/h/m."""
    now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert page_views.when("2026-01-05T09:55:00+00:00", now) == "2026-01-05 09:55:00 UTC (5m ago)"
    assert page_views.when(now.timestamp() + 3600, now) == "2026-01-05 11:00:00 UTC (in 1h 0m)"
    assert page_views.when(None, now) == "-"
    assert views.human(30) == "30s"
    assert views.human(90061) == "1d 1h 1m"
