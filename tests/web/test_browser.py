"""The status page in a real browser: headless Chromium (Playwright) watches a failing
check turn red, its alert appear, and acknowledges it through the page's form."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from playwright.async_api import async_playwright, expect

from sentinel.app.daemon import Daemon
from tests.cluster.test_shared_view import CHECKS, members
from tests.conftest import Target
from tests.polling import eventually
from tests.services import postgres_database, postgres_url, system_tool
from tests.web.test_page import base_url, config_text, start_daemon
from tests.web.test_slo_page import SEEDED, slo_config_text, slo_runs, start_seeded

CHROMIUM = os.environ.get("SENTINEL_CHROMIUM", "chromium")  # a path, or a name on PATH
# Playwright's own browser download is not used: the system Chromium, kept off the network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
RED = "rgb(209, 36, 47)"  # .state-down in the page's CSS

__all__ = ["members", "postgres_database", "postgres_url"]  # fixtures


@pytest.fixture
def chromium() -> Path:
    """The browser's path; without it the test fails (skips only with SENTINEL_ALLOW_SKIP=1)."""
    return Path(system_tool(CHROMIUM, "chromium"))


@pytest.fixture
async def daemon(tmp_path: Path, target: Target) -> AsyncIterator[Daemon]:
    d = await start_daemon(tmp_path, config_text(tmp_path, allow_ack=True, up_url=target.url))
    yield d
    await d.stop()
    structlog.reset_defaults()


async def test_browser_sees_red_check_and_acknowledges(
    daemon: Daemon, chromium: Path, tmp_path: Path
) -> None:
    """The dead check's state is red (computed style), its alert shows up as the page
    refreshes itself, and typing a name and pressing Acknowledge shows "acknowledged by
    Ada Lovelace"; a screenshot is kept in test-artifacts/status-page.png."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            console_errors: list[str] = []
            page.on(
                "console",
                lambda m: console_errors.append(m.text) if m.type == "error" else None,
            )
            await page.goto(base_url(daemon) + "/")
            state = page.locator("#check-dead .state")
            # The page reloads itself every 5 s: no reload from the test is needed.
            await expect(state).to_have_class("state state-down", timeout=20_000)
            colour = await state.evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour == RED
            up = page.locator("#check-api .state")
            await expect(up).to_have_class("state state-up")

            alert = page.locator("tr.alert", has_text="ServiceDown on dead")
            await expect(alert.get_by_role("button", name="Acknowledge")).to_be_visible(
                timeout=20_000
            )
            await expect(alert).to_contain_text("step 1 of 2")
            # A self-refresh between typing and clicking would drop the name: retry then.
            for _ in range(3):
                await page.reload()
                await alert.get_by_placeholder("Your name").fill("Ada Lovelace")
                await alert.get_by_role("button", name="Acknowledge").click()
                await page.wait_for_load_state()
                if "acked=" in page.url:
                    break
            assert "acked=" in page.url
            await expect(page.locator("#flash")).to_contain_text("acknowledged")
            acked = page.locator("tr.alert", has_text="ServiceDown on dead")
            await expect(acked).to_contain_text("acknowledged by Ada Lovelace")
            await expect(acked.get_by_role("button", name="Acknowledge")).to_have_count(0)

            shot = tmp_path / "status-page.png"
            await page.screenshot(path=str(shot), full_page=True)
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(shot, ARTIFACTS / "status-page.png")
            assert console_errors == []  # e.g. nothing blocked by the CSP
        finally:
            await browser.close()
    alert_state = next(a for a in daemon.status()["alerts"] if a["check"] == "dead")
    assert alert_state["escalation"]["acknowledged_by"] == "Ada Lovelace via page"


async def test_browser_posts_an_incident_update_with_the_api_token(
    chromium: Path, tmp_path: Path, target: Target
) -> None:
    """Issue 20: the incident's form asks for the API token; sent, the page shows the
    update under the incident, with its status."""
    text = config_text(tmp_path, allow_ack=False, up_url=target.url)
    text = text.replace("server:\n", 'server:\n  api_token: "browser-token-1a2b"\n', 1)
    d = await start_daemon(tmp_path, text)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 900})
                await page.goto(base_url(d) + "/")
                row = page.locator("#incidents tr", has_text="ServiceDown on dead")
                await expect(row.get_by_text("Post an update")).to_be_visible(timeout=20_000)
                for _ in range(3):  # a self-refresh between typing and sending: again
                    await page.reload()
                    await row.get_by_text("Post an update").click()
                    await row.get_by_label("Status").select_option("identified")
                    await row.get_by_placeholder("Progress").fill("Found the bad deploy")
                    await row.get_by_placeholder("API token").fill("browser-token-1a2b")
                    await row.get_by_role("button", name="Send update").click()
                    await page.wait_for_load_state()
                    if await row.get_by_text("Found the bad deploy").count():
                        break
                await expect(row).to_contain_text("identified")
                await expect(row).to_contain_text("Found the bad deploy")
            finally:
                await browser.close()
    finally:
        await d.stop()
        structlog.reset_defaults()


async def test_browser_shows_slo_budget_bar_and_burn_down_with_text_alternatives(
    chromium: Path, tmp_path: Path, target: Target
) -> None:
    """Issue 19: the SLO section draws, per SLO, the budget bar and the burn-down line
    as images with names (what a screen reader says), laid out at their size, and the
    attainment as text; a screenshot is kept in test-artifacts/status-page-slos.png."""
    d = await start_seeded(tmp_path, slo_config_text(tmp_path, target.url))
    try:
        await eventually(lambda: slo_runs(d) >= SEEDED + 4, seconds=10)
        assert d.slo_keeper is not None
        d.slo_keeper.refresh()  # the pairs that hold: the keeper's, once a minute
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 900})
                console_errors: list[str] = []
                page.on(
                    "console",
                    lambda m: console_errors.append(m.text) if m.type == "error" else None,
                )
                await page.goto(base_url(d) + "/")
                row = page.locator("#slo-dead-availability")
                # The page reloads itself every 5 s: the dead check's failures show up.
                await expect(row.locator(".attainment")).to_have_text("0.000%", timeout=20_000)
                bar = row.get_by_role("img", name=re.compile(r"^error budget left: .*overspent"))
                await expect(bar).to_be_visible()
                line = row.get_by_role(
                    "img", name=re.compile(r"^error budget over the last 30d: from 100% at ")
                )
                await expect(line).to_be_visible()
                box = await line.bounding_box()
                assert box is not None
                assert (box["width"], box["height"]) == (240, 36)
                fill = await bar.locator("rect").nth(1).get_attribute("fill")
                assert fill == "#d1242f"  # spent: red, and no width
                await expect(row).to_contain_text("page-fast")
                heading = page.get_by_role("heading", name="Service level objectives")
                await expect(heading).to_be_visible()
                shot = tmp_path / "status-page-slos.png"
                await page.screenshot(path=str(shot), full_page=True)
                ARTIFACTS.mkdir(exist_ok=True)
                shutil.copyfile(shot, ARTIFACTS / "status-page-slos.png")
                assert console_errors == []
            finally:
                await browser.close()
    finally:
        await d.stop()
        structlog.reset_defaults()


async def test_browser_sees_the_members_and_each_place_s_view_on_any_replica(
    members: list[Daemon], chromium: Path, tmp_path: Path
) -> None:
    """Issue 16: two members on PostgreSQL (tests/cluster/test_shared_view.py). Member
    B's page, in Chromium, has a "Cluster members" region with a table of both members
    by accessible name, every check up (those only A probes too), and the list of each
    place's view of the check both probe; a screenshot goes to test-artifacts/."""
    b = members[1]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(base_url(b) + "/")
            region = page.get_by_role("region", name="Cluster members")
            table = region.get_by_role("table", name="Cluster members")
            # The page reloads itself every few seconds; the members come with heartbeats.
            await expect(table.get_by_role("row", name=re.compile("m-a"))).to_be_visible(
                timeout=60_000
            )
            await expect(table.get_by_role("rowheader", name=re.compile("m-b"))).to_contain_text(
                "serving this page"
            )
            for name in [*CHECKS, "both"]:
                await expect(page.locator(f"#check-{name}")).to_have_attribute(
                    "data-state", "up", timeout=60_000
                )
            views = page.get_by_role("list", name="Each place's view of both")
            await expect(views.get_by_role("listitem")).to_have_count(2)
            await expect(views).not_to_contain_text("unknown", timeout=60_000)
            shot = tmp_path / "status-page-cluster.png"
            await page.screenshot(path=str(shot), full_page=True)
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(shot, ARTIFACTS / "status-page-cluster.png")
        finally:
            await browser.close()
