"""Notifications through the whole daemon on loopback: a failing check pages PagerDuty,
the API and the signed link acknowledge (the daemon on a fake clock, moved by the
test; the HTTP is real), and a ``kill -9`` at any moment neither loses a page nor
sends one twice (real processes, in real time)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import structlog

from sentinel.app.alerts import FOR_MARGIN
from sentinel.app.daemon import Daemon
from sentinel.cli.main import main
from sentinel.cli.notify import notify_test
from sentinel.clock import FakeClock, SystemClock
from sentinel.config import load_config, secret_values
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from tests.conftest import free_port
from tests.notify.fakes import Fault, PagerDuty
from tests.polling import eventually, run_daemon_for
from tests.test_daemon import until

TOKEN = "api-token-0123456789"
PD_KEY = "r" * 32
PAGE_WITHIN = 5.0  # fake seconds: the first result, the firing, the page (or the ack's notice)


def config_text(tmp_path: Path, port: int, pd_url: str, interval: str = "200ms") -> str:
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
  api_token: "{TOKEN}"
storage:
  url: "sqlite:{tmp_path}/state.db"
checks:
  - name: dead
    type: tcp
    target: "127.0.0.1:{free_port()}"
    interval: {interval}
    timeout: 200ms
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical,
      summary: "{{{{ check }}}} is down: {{{{ error }}}}"}}
channels:
  pagerduty: {{type: pagerduty, routing_key: "{PD_KEY}", api_url: "{pd_url}"}}
escalation:
  critical:
    - {{after: 0s, notify: [pagerduty]}}
notifications: {{retry_initial: 100ms, retry_max: 500ms}}
"""


@pytest.fixture
async def pd() -> AsyncIterator[PagerDuty]:
    async with PagerDuty() as fake:
        yield fake


@pytest.fixture
async def daemon(tmp_path: Path, pd: PagerDuty) -> AsyncIterator[Daemon]:
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, free_port(), pd.url))
    config = load_config(path, {})
    redactor = Redactor()
    redactor.set_secrets(secret_values(config))
    d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, redactor)
    await d.start()
    yield d
    await d.stop()
    structlog.reset_defaults()


def triggers(pd: PagerDuty) -> list[dict[str, object]]:
    return [r.json for r in pd.accepted if r.json["event_action"] == "trigger"]


async def test_failing_check_pages_and_api_ack_reaches_pagerduty(
    daemon: Daemon, pd: PagerDuty
) -> None:
    """The dead port pages PagerDuty once (dedup_key = the alert id, summary with the
    reason); an API ack sends PagerDuty's acknowledge and shows who acked."""
    await until(daemon, lambda: len(triggers(pd)) == 1, PAGE_WITHIN)
    event = triggers(pd)[0]
    payload = event["payload"]
    assert isinstance(payload, dict)
    assert str(payload["summary"]).endswith("dead is down: connection refused")
    assert payload["severity"] == "critical"
    fp = str(event["dedup_key"])
    host, port = daemon.listening[0]
    async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
        async with http.post(f"/api/v1/alerts/{fp}/ack", json={"by": "alice"}) as resp:
            assert resp.status == 401  # no token
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(
            f"/api/v1/alerts/{fp[:6]}/ack", json={"by": "alice"}, headers=headers
        ) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["escalation"]["acknowledged_by"] == "alice via api"
        await until(daemon, lambda: pd.incidents.get(fp) == "acknowledged", PAGE_WITHIN)
        await run_daemon_for(daemon, 0.5)  # more results arrive: still one trigger
        assert len(triggers(pd)) == 1


async def test_signed_link_acknowledges_from_a_phone(daemon: Daemon, pd: PagerDuty) -> None:
    """The link in the page shows a confirm form on GET (a link preview must not ack),
    acknowledges on POST without the API token, and refuses a tampered token."""
    await until(daemon, lambda: len(triggers(pd)) == 1, PAGE_WITHIN)
    links = triggers(pd)[0]["links"]
    assert isinstance(links, list)
    href = next(str(link["href"]) for link in links if "/ack/" in str(link["href"]))
    fp = str(triggers(pd)[0]["dedup_key"])
    async with aiohttp.ClientSession() as http:
        async with http.get(href) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert '<form method="post"' in page
        assert "ServiceDown" in page
        assert pd.incidents[fp] == "triggered"  # GET changed nothing
        bad = re.sub(r"/([A-Za-z0-9_-]+)$", lambda m: "/" + m.group(1)[::-1], href)
        async with http.post(bad, data={"by": "mallory"}) as resp:
            assert resp.status == 403
        async with http.post(href, data={"by": "bob"}) as resp:
            assert resp.status == 200
            assert "Acknowledged by bob" in await resp.text()
    await until(daemon, lambda: pd.incidents.get(fp) == "acknowledged", PAGE_WITHIN)


def answers(port: int) -> bool:
    """sentinel's /health answers: the process has started (and handles SIGTERM)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


async def _start(config: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sentinel",
        "run",
        "-c",
        str(config),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def outbox(db: Path) -> list[tuple[str, str]]:
    """The outbox rows' (state, channel), read by a second connection as an operator would."""
    try:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            rows = conn.execute("SELECT state, channel FROM outbox").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    return [(str(s), str(k)) for s, k in rows]


async def test_kill_9_loses_nothing_and_pages_once(tmp_path: Path, pd: PagerDuty) -> None:
    """PagerDuty is down when the alert fires; sentinel is killed with SIGKILL while
    retrying; the next process delivers the page. Killed again after delivery, the
    next one does not page twice."""
    config = tmp_path / "sentinel.yaml"
    port = free_port()
    config.write_text(config_text(tmp_path, port, pd.url))
    env = {**os.environ, "SENTINEL_LOG_FORMAT": "json"}
    db = tmp_path / "state.db"
    pd.inject(*[Fault(503) for _ in range(10_000)])
    first = await _start(config, env)
    try:
        await eventually(lambda: db.exists() and ("pending", "pagerduty") in outbox(db))
        await eventually(lambda: pd.seen >= 2)  # it is retrying
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert triggers(pd) == []
    pd.faults.clear()
    second = await _start(config, env)
    try:
        await eventually(lambda: len(triggers(pd)) == 1)
        await eventually(lambda: ("sent", "pagerduty") in outbox(db))
    finally:
        second.send_signal(signal.SIGKILL)
        await second.wait()
    third = await _start(config, env)
    try:
        await eventually(lambda: answers(port), 30.0)  # started: its signal handlers are set
        await eventually(lambda: pd.seen > 0 and len(outbox(db)) >= 1)
        await asyncio.sleep(2.0)  # time for any duplicate to show up
        assert len(triggers(pd)) == 1
    finally:
        third.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(third.wait(), 20) == 0


async def test_cli_ack_by_short_reference(
    daemon: Daemon, pd: PagerDuty, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sentinel ack <6 chars> --by alice` acknowledges through the running daemon's API,
    and `--undo` withdraws it."""
    try:
        await _cli_ack(daemon, pd, capsys)
    finally:
        structlog.reset_defaults()  # main() pointed logging at the captured stdout


async def _cli_ack(daemon: Daemon, pd: PagerDuty, capsys: pytest.CaptureFixture[str]) -> None:
    await until(daemon, lambda: len(triggers(pd)) == 1, PAGE_WITHIN)
    fp = str(triggers(pd)[0]["dedup_key"])
    host, port = daemon.listening[0]
    config = Path(daemon.settings.config)
    url = f"http://{host}:{port}"
    args = ["ack", fp[:6], "--by", "alice", "-c", str(config), "--url", url, "--json"]
    assert await asyncio.to_thread(main, args) == 0
    assert '"acknowledged_by": "alice via cli"' in capsys.readouterr().out
    await until(daemon, lambda: pd.incidents.get(fp) == "acknowledged", PAGE_WITHIN)
    assert await asyncio.to_thread(main, [*args, "--undo"]) == 0
    assert '"acknowledged_by": null' in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["ack", "000000", *args[2:]]) == 1
    assert "404" in capsys.readouterr().err


async def test_notify_test_reports_delivery_and_refusal(
    pd: PagerDuty, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """notify-test sends one test event (exit 0); a provider refusal exits 1 with the
    reason and without the routing key."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, free_port(), pd.url))
    config = load_config(path, {})
    assert await notify_test(config, "pagerduty", None, SystemClock()) == 0
    assert capsys.readouterr().out.strip() == "pagerduty: delivered"
    assert [r.json["event_action"] for r in pd.accepted] == ["trigger"]
    pd.inject(Fault(400, {"status": "invalid event", "message": "bad", "errors": ["x"]}))
    assert await notify_test(config, "pagerduty", None, SystemClock()) == 1
    err = capsys.readouterr().err
    assert "permanent" in err
    assert PD_KEY not in err
    assert await notify_test(config, "nope", None, SystemClock()) == 2


async def test_for_elapsing_between_results_fires_on_time(tmp_path: Path, pd: PagerDuty) -> None:
    """With results 3 s apart and `for: 1s`, the alert fires 1 s (and the 5 ms margin)
    after it went pending, on the daemon's fake clock, not at the next result (3 s) or the next rule tick
    (5 s), and the page goes out."""
    path = tmp_path / "sentinel.yaml"
    text = config_text(tmp_path, free_port(), pd.url, interval="3s")
    path.write_text(text.replace("severity: critical,", "severity: critical, for: 1s,"))
    config = load_config(path, {})
    d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, Redactor())
    await d.start()
    try:
        await until(d, lambda: any(i.state.state == "firing" for i in d.rules.active()), 4.1)
        state = next(i.state for i in d.rules.active())
        assert state.active_since is not None
        assert state.fired_at is not None
        assert state.fired_at - state.active_since == pytest.approx(1.0 + FOR_MARGIN, abs=1e-4)
        # The page: each step of fake time waits until the alert row is saved and the
        # dispatcher has done what is due (real I/O), not only the scheduler.
        await until(d, lambda: len(triggers(pd)) == 1, 5.0)
    finally:
        await d.stop()
