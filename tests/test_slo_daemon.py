"""SLOs in the running daemon: burn-rate alerts take the normal alert path, /metrics and
the API show the budget, and a restart keeps the counters (real store, real probes, on a
fake clock)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest

from sentinel.app.daemon import Daemon
from sentinel.cli.main import main
from sentinel.clock import FakeClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from sentinel.store import open_store
from tests.conftest import Target, free_port
from tests.polling import eventually
from tests.test_daemon import TOKEN, base_url, config_text, until

SLOS = """
slos:
  - name: dead-availability
    match: {check: dead}
    objective: 99.9%
    labels: {team: sre}
"""


def total(d: Daemon) -> int:
    assert d.slo_keeper is not None  # made at start
    return sum(int(s.total) for s in d.slo_keeper.engine.statuses(d.clock.now()))


async def test_slo_alert_fires_through_the_normal_path_and_the_budget_survives_a_restart(
    tmp_path: Path, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """A check that always fails burns at 1000x: the page-fast SLO alert fires on the rule
    tick, shows in /api/v1/status like any alert, and is kept in the store; /metrics and
    /api/v1/slos show the spent budget; after a restart the counted runs are still there."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, target, free_port(), SLOS))
    config = load_config(path, {})
    # An hour of history, a good run a minute up to 5 minutes ago: page-fast judges only
    # a covered hour (docs/slos.md), and the 5m window holds only the dead check's runs.
    clock = FakeClock()
    store = open_store(config.storage.url.get_secret_value())
    await store.open()
    now = int(clock.now().timestamp() // 60)
    await store.save_slo_minutes([("dead-availability", m, 1, 1) for m in range(now - 65, now - 5)])
    await store.close()
    first = Daemon(config, Settings(config=str(path)), clock, {}, Redactor())
    await first.start()
    try:
        fast = "SLO:dead-availability:page-fast"
        took = await until(
            first,
            lambda: any(a.rule == fast and a.state.state == "firing" for a in first.rules.active()),
            seconds=5.1,
        )
        assert took > 4.9  # on the rule tick (every 5 s), not with a result
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(base_url(first), headers=headers) as http:
            async with http.get("/api/v1/status") as resp:
                alerts = (await resp.json())["alerts"]
            assert first.slo_keeper is not None
            first.slo_keeper.refresh()
            async with http.get("/metrics") as resp:
                metrics = await resp.text()
            async with http.get("/api/v1/slos") as resp:
                assert resp.status == 200
                slos = (await resp.json())["slos"]
        shown = {(a["rule"], a["check"], a["severity"]) for a in alerts}
        assert (fast, "dead-availability", "critical") in shown
        assert 'sentinel_slo_objective{slo="dead-availability"} 0.999' in metrics
        assert 'sentinel_slo_burn_rate{slo="dead-availability",window="5m"} 1000' in metrics
        # Written as text from the keeper's table, not collected as sample objects.
        assert not [f for f in first.registry.collect() if f.name.startswith("sentinel_slo")]
        assert slos[0]["name"] == "dead-availability"
        assert 0.0 < slos[0]["attainment"] < 0.99
        assert "page-fast" in slos[0]["firing"]
        url = ["-c", str(path), "--url", base_url(first)]
        assert await asyncio.to_thread(main, ["slo", *url]) == 0
        out = capsys.readouterr().out
        header = r"^SLO +OBJECTIVE +WINDOW +ATTAINMENT +BUDGET LEFT +BURN 1H +FIRING$"
        assert re.search(header, out, re.MULTILINE)
        assert re.search(r"^dead-availability  99\.900%    30d     \d+\.\d+%", out, re.MULTILINE)
        assert await asyncio.to_thread(main, ["slo", *url, "--explain", "dead-availability"]) == 0
        out = capsys.readouterr().out
        assert "availability 99.900% over 30d" in out
        assert re.search(
            r"page-fast +critical +14.4x +>= 1.44% bad over 1h and 5m +1h \d+\.\d\dx", out
        )
        assert await asyncio.to_thread(main, ["slo", *url, "--explain", "nope"]) == 1
        assert "no SLO named 'nope'" in capsys.readouterr().err

        async def saved() -> bool:  # the alert is saved in the background (real I/O)
            return any(a.rule == fast for a in await first.store.load_alerts())

        await eventually(saved)
        counted = total(first)
    finally:
        await first.stop()
    assert counted > 0
    later = FakeClock(start=first.clock.now())
    second = Daemon(config, Settings(config=str(path)), later, {}, Redactor())
    await second.start()
    try:
        assert total(second) >= counted  # loaded back from the store
        assert any(a.rule == fast for a in second.rules.active())  # the firing alert too
    finally:
        await second.stop()
