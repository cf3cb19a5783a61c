"""Scenarios on PostgreSQL: the kill -9 delivery of tests/test_delivery.py, the
restart of tests/test_daemon.py, ``sentinel report`` of tests/test_reports.py and
the status page's uptime bars of tests/web/test_page.py, with the state in
PostgreSQL instead of SQLite."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest

from sentinel.app.daemon import Daemon
from sentinel.cli.main import main
from sentinel.clock import SystemClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from sentinel.probes.results import Result, Sample
from sentinel.store import open_store
from sentinel.store.sqlite import SqliteStore
from sentinel.web import svg
from tests.conftest import Target, free_port
from tests.notify.fakes import Fault, PagerDuty
from tests.store.proxy import Proxy
from tests.store.test_postgres import via
from tests.test_daemon import config_text as daemon_config
from tests.test_delivery import _start, answers, config_text, pd, triggers
from tests.test_reports import fill as fill_report
from tests.test_reports import write_config as write_report_config
from tests.web.test_page import config_text as page_config
from tests.web.test_page import get as get_page
from tests.web.test_page import row_of
from tests.web.test_page import start_daemon as start_page_daemon

__all__ = ["pd"]


async def outbox(url: str) -> list[tuple[str, str]]:
    """The outbox rows' (state, channel), read by a second connection as an operator would."""
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT to_regclass('outbox') IS NOT NULL"):
            return []
        rows = await conn.fetch("SELECT state, channel FROM outbox")
    finally:
        await conn.close()
    return [(str(r["state"]), str(r["channel"])) for r in rows]


async def until(check: Callable[[], bool | Awaitable[bool]], seconds: float = 20.0) -> None:
    """Poll real I/O (the database, the fake PagerDuty) until it holds; bounded."""
    for _ in range(int(seconds / 0.1)):
        ok = check()
        if ok if isinstance(ok, bool) else await ok:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def test_kill_9_on_postgresql_loses_nothing_and_pages_once(
    tmp_path: Path, pd: PagerDuty, postgres_url: str
) -> None:
    """PagerDuty is down when the alert fires; sentinel (on PostgreSQL) is killed with
    SIGKILL while retrying; the next process delivers the page; killed again after
    delivery, the next one does not page twice."""
    config = tmp_path / "sentinel.yaml"
    port = free_port()
    text = config_text(tmp_path, port, pd.url)
    config.write_text(text.replace(f'url: "sqlite:{tmp_path}/state.db"', f'url: "{postgres_url}"'))
    assert postgres_url in config.read_text()
    env = {**os.environ, "SENTINEL_LOG_FORMAT": "json"}
    pd.inject(*[Fault(503) for _ in range(10_000)])

    async def pending() -> bool:
        return ("pending", "pagerduty") in await outbox(postgres_url)

    async def sent() -> bool:
        return ("sent", "pagerduty") in await outbox(postgres_url)

    first = await _start(config, env)
    try:
        await until(pending)
        await until(lambda: pd.seen >= 2)  # it is retrying
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert triggers(pd) == []
    pd.faults.clear()
    second = await _start(config, env)
    try:
        await until(lambda: len(triggers(pd)) == 1)
        await until(sent)
    finally:
        second.send_signal(signal.SIGKILL)
        await second.wait()
    third = await _start(config, env)
    try:
        await until(lambda: answers(port), 30.0)  # started: its signal handlers are set
        await asyncio.sleep(2.0)  # time for any duplicate to show up
        assert len(triggers(pd)) == 1
        assert not (tmp_path / "state.db").exists()  # it really ran on PostgreSQL
    finally:
        third.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(third.wait(), 20) == 0


async def test_a_pending_alert_survives_a_restart_on_postgresql(
    tmp_path: Path, target: Target, postgres_url: str
) -> None:
    """A pending alert saved by one daemon on PostgreSQL is pending again in the next,
    with the same start: its `for` keeps counting across the restart."""
    path = tmp_path / "sentinel.yaml"
    text = daemon_config(tmp_path, target, free_port()).replace(
        "expr: 'p95(duration_seconds[5m]) > 10s'", "expr: 'up == 1'"
    )
    path.write_text(text.replace(f'url: "sqlite:{tmp_path}/state.db"', f'url: "{postgres_url}"'))
    config = load_config(path, {})
    assert config.storage.url.get_secret_value() == postgres_url
    first = Daemon(config, Settings(config=str(path)), SystemClock(), {}, Redactor())
    await first.start()
    try:
        await until(lambda: any(a.rule == "Slow" for a in first.rules.active()))
        before = next(a for a in first.rules.active() if a.rule == "Slow")

        async def saved() -> bool:
            return any(a.rule == "Slow" for a in await first.store.load_alerts())

        await until(saved)
    finally:
        await first.stop()
    second = Daemon(config, Settings(config=str(path)), SystemClock(), {}, Redactor())
    await second.store.open()
    second.rules.configure(config)
    second.rules.restore(await second.store.load_alerts())
    await second.store.close()
    after = next(a for a in second.rules.active() if a.rule == "Slow")
    assert after.state.state == "pending"
    assert after.state.active_since == before.state.active_since
    assert not (tmp_path / "state.db").exists()


def test_cli_report_reads_postgresql(
    tmp_path: Path,
    postgres_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sentinel report`` on a PostgreSQL store prints what it prints on SQLite
    (uptime from the daily rollup, incidents, notifications)."""

    async def go() -> None:
        s = open_store(postgres_url)
        await s.open()
        try:
            # fill is annotated with SqliteStore but uses only the Store protocol
            await fill_report(cast(SqliteStore, s), datetime.now(UTC).replace(microsecond=0))
        finally:
            await s.close()

    asyncio.run(go())
    path = write_report_config(tmp_path, tmp_path / "unused.db")
    monkeypatch.setenv("SENTINEL_STORAGE_URL", postgres_url)
    assert main(["report", "-c", path, "--period", "7d"]) == 0
    out = capsys.readouterr().out
    assert "Incidents                    3 (critical 2, high 1)" in out
    assert "api    89.88%" in out
    assert not (tmp_path / "unused.db").exists()


async def test_status_page_draws_uptime_history_from_postgresql(
    tmp_path: Path, target: Target, postgres_url: str
) -> None:
    """The 90-day bars of the status page come from PostgreSQL's daily rollup, as
    from SQLite's (tests/web/test_page.py)."""
    store = open_store(postgres_url)
    await store.open()
    yesterday = SystemClock().now() - timedelta(days=1)
    await store.add_results(
        [
            Result("loose", "http", i != 0, yesterday, 0.01, None, (Sample("up", 1.0),))
            for i in range(10)
        ]
    )
    await store.close()
    text = page_config(tmp_path, allow_ack=False, up_url=target.url)
    text = text.replace(f'url: "sqlite:{tmp_path}/state.db"', f'url: "{postgres_url}"')
    assert postgres_url in text
    daemon = await start_page_daemon(tmp_path, text)
    try:
        row = row_of((await get_page(daemon)).text, "loose")
    finally:
        await daemon.stop()
    day = (SystemClock().now().date() - timedelta(days=1)).isoformat()
    assert f'fill="{svg.RED}"><title>{day}: 90.00%</title>' in row
    assert "<td>90.00%</td>" in row
    assert not (tmp_path / "state.db").exists()


async def test_postgresql_gone_mid_run_sentinel_keeps_probing_and_recovers(
    tmp_path: Path, target: Target, postgres_url: str
) -> None:
    """The database goes away under a running daemon (a loopback proxy in front of the real
    server is stopped): checks keep running, /ready answers 503, and once it is back /ready
    is 200 again and the history written meanwhile reaches the database."""
    parts = urlsplit(postgres_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    port = free_port()
    path = tmp_path / "sentinel.yaml"
    url = via(postgres_url, "127.0.0.1", proxy.port)
    text = daemon_config(tmp_path, target, port)
    path.write_text(text.replace(f'url: "sqlite:{tmp_path}/state.db"', f'url: "{url}"'))
    config = load_config(path, {})
    daemon = Daemon(config, Settings(config=str(path)), SystemClock(), {}, Redactor())
    await daemon.start()
    host, bound = daemon.listening[0]
    ready = f"http://{host}:{bound}/ready"
    try:
        async with aiohttp.ClientSession() as http:

            async def status() -> int:
                async with http.get(ready) as resp:
                    return resp.status

            async def results() -> int:
                conn = await asyncpg.connect(postgres_url)
                try:
                    return int(await conn.fetchval("SELECT count(*) FROM results"))
                finally:
                    await conn.close()

            await until(lambda: _is(status(), 200))
            await daemon.writer.flush()
            before = await results()
            await proxy.stop()
            await until(lambda: _is(status(), 503), 30.0)
            runs = len(daemon.recent.get("api"))
            await until(lambda: len(daemon.recent.get("api")) > runs)  # still probing
            await proxy.start()
            await until(lambda: _is(status(), 200), 30.0)

            async def more() -> bool:
                return await results() > before

            await until(more, 30.0)  # the history is written again
    finally:
        await daemon.stop()
        await proxy.stop()


async def _is(answer: Awaitable[int], expected: int) -> bool:
    return await answer == expected
