"""The daemon end to end: real scheduler, real probes, real store, real HTTP server,
on a fake clock: checks run only as a test moves the clock (``until``), so when
something happens is asserted in the daemon's time, and the probes' HTTP and TCP
and the store's I/O are real."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
import structlog
from pydantic import SecretStr

from sentinel.app.daemon import Daemon, StartError
from sentinel.cli.main import main
from sentinel.clock import FakeClock
from sentinel.config import load_config, secret_values
from sentinel.config.checks import RedisCheck
from sentinel.config.settings import Settings
from sentinel.logs import Redactor, configure
from sentinel.store import StoreError, open_store
from sentinel.store.sqlite import SqliteStore
from tests.conftest import Target, free_port
from tests.polling import eventually, run_daemon_until

TOKEN = "api-token-0123456789"
BEARER = "probe-bearer-abcdef"


def config_text(tmp_path: Path, target: Target, dead_port: int, extra: str = "") -> str:
    return f"""
server:
  listen: "127.0.0.1:0"
  api_token: "{TOKEN}"
storage:
  url: "sqlite:{tmp_path}/state.db"
checks:
  - name: api
    type: http
    url: "{target.url}/health"
    interval: 300ms
    timeout: 300ms
    auth: {{bearer: "{BEARER}"}}
    labels: {{service: shop}}
    expect:
      json: {{$.status: healthy}}
    extract: {{uptime_seconds: $.uptime}}
  - name: dead
    type: tcp
    target: "127.0.0.1:{dead_port}"
    interval: 300ms
    timeout: 300ms
  - name: backup
    type: heartbeat
    every: 1d
    interval: 300ms
    timeout: 300ms
    key: "backup-key-123"
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical}}
  - {{name: Slow, match: {{check: api}}, expr: 'p95(duration_seconds[5m]) > 10s', for: 3m}}
{extra}
"""


@pytest.fixture
def logs() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
async def daemon(tmp_path: Path, target: Target, logs: io.StringIO) -> AsyncIterator[Daemon]:
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, target, free_port()))
    settings = Settings(config=str(path))
    config = load_config(path, {})
    redactor = Redactor()
    redactor.set_secrets(secret_values(config))
    configure("debug", "json", redactor, logs)
    d = Daemon(config, settings, FakeClock(), {}, redactor)
    await d.start()
    yield d
    await d.stop()
    structlog.reset_defaults()


async def until(d: Daemon, done: Callable[[], bool], seconds: float = 0.35) -> float:
    """Run ``d`` on its fake clock until ``done()``, each step settled on the scheduler,
    the alert shell and the dispatcher (``daemon_idle``); the fake seconds it took (at
    most ``seconds``: by default one 300 ms interval and a step)."""
    return await run_daemon_until(d, done, seconds)


def base_url(d: Daemon) -> str:
    host, port = d.listening[0]
    return f"http://{host}:{port}"


async def test_checks_run_and_everything_is_served(daemon: Daemon, target: Target) -> None:
    """Within one interval the status JSON, /metrics, /health and /ready show real results."""
    await until(daemon, lambda: {"api", "dead", "backup"} <= set(daemon.latest))
    async with aiohttp.ClientSession(base_url(daemon)) as http:
        async with http.get("/api/v1/status") as resp:
            status = await resp.json()
        checks = {c["name"]: c for c in status["checks"]}
        assert checks["api"]["state"] == "up"
        assert checks["api"]["samples"]["uptime_seconds"] == 42
        assert checks["dead"]["state"] == "down"
        assert checks["dead"]["error"] == "connection refused"
        assert checks["backup"]["state"] == "up"  # within its first day: no ping is due yet
        async with http.get("/metrics") as resp:
            metrics = await resp.text()
        assert 'sentinel_check_up{check="api",type="http"} 1.0' in metrics
        assert 'sentinel_check_up{check="dead",type="tcp"} 0.0' in metrics
        assert "sentinel_scheduler_lateness_seconds_bucket" in metrics
        assert 'sentinel_checks_configured{supported="true",type="heartbeat"} 1.0' in metrics
        async with http.get("/health") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "alive"}
        async with http.get("/ready") as resp:
            ready = await resp.json()
            assert resp.status == 200, ready
        assert ready["store_reachable"] is True
        assert ready["scheduler_running"] is True


async def test_runs_repeat_on_the_interval_and_history_is_stored(
    daemon: Daemon, target: Target
) -> None:
    """The scheduler runs the check once per 300 ms interval, and the history reaches
    the store."""
    took = await until(daemon, lambda: target.hits.get("/health", 0) >= 3, 1.0)
    assert 0.6 <= took <= 0.9 + 1e-9
    assert target.hits["/health"] == 3
    await daemon.writer.flush()
    history = await daemon.store.recent_results("api", limit=10)
    assert len(history) >= 3
    assert all(r.ok for r in history)


async def test_a_failing_target_turns_the_check_down_with_a_reason(
    daemon: Daemon, target: Target
) -> None:
    """When the target starts answering 503, the check goes down with the status reason."""
    await until(daemon, lambda: "api" in daemon.latest and daemon.latest["api"].ok)
    target.healthy = False
    await until(daemon, lambda: not daemon.latest["api"].ok)
    assert daemon.latest["api"].error == "status 503 not in 200-399"


async def test_reload_applies_a_valid_file_and_keeps_the_old_one_on_error(
    daemon: Daemon, tmp_path: Path, target: Target
) -> None:
    """A valid reload swaps checks; an invalid one keeps them and sets the gauge to 0."""
    path = Path(daemon.settings.config)
    path.write_text(config_text(tmp_path, target, free_port()).replace("name: dead", "name: dead2"))
    assert await daemon.reload() == []
    assert set(daemon.armed) == {"api", "dead2", "backup"}
    assert daemon.registry.get_sample_value("sentinel_config_last_reload_successful") == 1
    path.write_text("checks:\n  - name: x\n    type: nope\n")
    assert await daemon.reload() != []
    assert set(daemon.armed) == {"api", "dead2", "backup"}
    assert daemon.registry.get_sample_value("sentinel_config_last_reload_successful") == 0
    await until(daemon, lambda: "dead2" in daemon.latest)
    assert "dead" not in daemon.latest


async def test_stop_flushes_history(tmp_path: Path, target: Target) -> None:
    """Results gathered before SIGTERM are in the store after stop()."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, target, free_port()))
    config = load_config(path, {})
    d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, Redactor())
    await d.start()
    await until(d, lambda: target.hits.get("/health", 0) >= 2, 0.65)
    await d.stop()
    seen = d.latest["api"].started_at
    store = open_store(f"sqlite:{tmp_path}/state.db")
    await store.open()
    try:
        stored = await store.recent_results("api", limit=1)
    finally:
        await store.close()
    assert stored[0].started_at == seen


async def test_secrets_never_reach_logs_status_or_metrics(
    daemon: Daemon, target: Target, logs: io.StringIO
) -> None:
    """The API token and probe credentials appear in no log line, status or metrics."""
    await until(daemon, lambda: "api" in daemon.latest)
    path = Path(daemon.settings.config)
    path.write_text(
        f"checks:\n  - name: x\n    type: http\n    url: 'http://h/{BEARER}'\n    bogus: {TOKEN}\n"
    )
    assert await daemon.reload() != []
    async with aiohttp.ClientSession(base_url(daemon)) as http:
        for route in ("/api/v1/status", "/metrics", "/ready"):
            async with http.get(route) as resp:
                body = await resp.text()
            assert TOKEN not in body
            assert BEARER not in body
    text = logs.getvalue()
    assert "config_reload_failed" in text
    assert TOKEN not in text
    assert BEARER not in text
    events = [json.loads(line)["event"] for line in text.splitlines()]
    assert "sentinel_started" in events


async def test_heartbeat_pings_need_the_key_and_survive_a_restart(
    daemon: Daemon, tmp_path: Path
) -> None:
    """/ping with the key records start and success; a new daemon on the same store remembers."""
    async with aiohttp.ClientSession(base_url(daemon)) as http:
        async with http.post("/ping/backup/start?key=backup-key-123") as resp:
            assert resp.status == 200
        async with http.get("/ping/backup", headers={"X-Sentinel-Key": "nope"}) as resp:
            assert resp.status == 403
        async with http.get("/ping/nightly") as resp:
            assert resp.status == 404
        async with http.get("/ping/backup", headers={"X-Sentinel-Key": "backup-key-123"}) as resp:
            assert resp.status == 200
    await until(
        daemon, lambda: daemon.latest["backup"].sample("since_last_ping_seconds") is not None
    )
    beat = daemon.heartbeats.get("backup")
    assert beat.success is not None
    assert beat.last_duration is not None
    assert beat.last_duration >= 0
    config = load_config(Path(daemon.settings.config), {})
    again = Daemon(config, daemon.settings, FakeClock(), {}, Redactor())
    await again.store.open()
    try:
        assert await again.store.load_heartbeats() == {"backup": beat}
    finally:
        await again.store.close()


async def test_rules_fire_from_results_and_show_in_status_and_metrics(
    daemon: Daemon, logs: io.StringIO
) -> None:
    """The dead port's ServiceDown fires from its first result; status and /metrics show it."""
    await until(daemon, lambda: any(a.rule == "ServiceDown" for a in daemon.rules.active()))
    async with aiohttp.ClientSession(base_url(daemon)) as http:
        async with http.get("/api/v1/status") as resp:
            alerts = (await resp.json())["alerts"]
        async with http.get("/metrics") as resp:
            metrics = await resp.text()
    assert [(a["rule"], a["check"], a["state"], a["severity"]) for a in alerts] == [
        ("ServiceDown", "dead", "firing", "critical")
    ]
    assert alerts[0]["suppressed"] is None
    assert 'sentinel_alerts{severity="critical",state="firing"} 1.0' in metrics
    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    fired = [e for e in events if e["event"] == "alert_firing"]
    assert fired[0]["rule"] == "ServiceDown"
    assert fired[0]["check"] == "dead"


async def test_a_pending_alert_survives_a_restart(tmp_path: Path, target: Target) -> None:
    """A slow-response alert pending before a restart is pending again after it, same start."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        config_text(tmp_path, target, free_port()).replace(
            "expr: 'p95(duration_seconds[5m]) > 10s'", "expr: 'up == 1'"
        )
    )
    config = load_config(path, {})
    first = Daemon(config, Settings(config=str(path)), FakeClock(), {}, Redactor())
    await first.start()
    await until(first, lambda: any(a.rule == "Slow" for a in first.rules.active()))
    before = next(a for a in first.rules.active() if a.rule == "Slow")

    async def saved() -> bool:  # the save runs in the background (real I/O)
        return any(a.rule == "Slow" for a in await first.store.load_alerts())

    await eventually(saved)
    await first.stop()
    second = Daemon(config, Settings(config=str(path)), FakeClock(), {}, Redactor())
    await second.store.open()
    second.rules.configure(config)
    second.rules.restore(await second.store.load_alerts())
    await second.store.close()
    after = next(a for a in second.rules.active() if a.rule == "Slow")
    assert after.state.state == "pending"
    assert after.state.active_since == before.state.active_since


async def test_inhibited_alerts_stay_visible_with_the_reason(
    tmp_path: Path, target: Target
) -> None:
    """While ServiceDown fires on the dead port, the inhibited alert on api says why."""
    path = tmp_path / "sentinel.yaml"
    text = config_text(
        tmp_path,
        target,
        free_port(),
        extra="inhibit:\n  - {source: {alert: ServiceDown}, target: {alert: ApiAnswering}}\n",
    ).replace(
        "rules:\n",
        "rules:\n  - {name: ApiAnswering, match: {check: api}, expr: up == 1, severity: low}\n",
    )
    path.write_text(text)
    config = load_config(path, {})
    d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, Redactor())
    await d.start()
    try:
        await until(
            d, lambda: {a.rule for a in d.rules.active()} >= {"ServiceDown", "ApiAnswering"}
        )
        alerts = {a["rule"]: a for a in d.status()["alerts"]}
    finally:
        await d.stop()
    assert alerts["ApiAnswering"]["suppressed"] == "inhibited by ServiceDown on dead"
    assert alerts["ServiceDown"]["suppressed"] is None


async def test_silences_through_the_api(daemon: Daemon) -> None:
    """A silence needs the token, quiets the matching alert with its reason, lists, and expires."""
    await until(daemon, lambda: any(a.rule == "ServiceDown" for a in daemon.rules.active()))
    body = {
        "matchers": {"alertname": "ServiceDown"},
        "duration": "2h",
        "author": "alice",
        "comment": "moving racks",
    }
    async with aiohttp.ClientSession(base_url(daemon)) as http:
        async with http.post("/api/v1/silences", json=body) as resp:
            assert resp.status == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(
            "/api/v1/silences", json={**body, "matchers": {}}, headers=auth
        ) as resp:
            assert resp.status == 400
            assert "at least one matcher" in (await resp.json())["error"]
        later = {**body, "starts_at": "2099-01-01T00:00:00+00:00"}
        async with http.post("/api/v1/silences", json=later, headers=auth) as resp:
            assert resp.status == 201
            scheduled = await resp.json()
        async with http.post("/api/v1/silences", json=body, headers=auth) as resp:
            assert resp.status == 201
            created = await resp.json()
        alerts = {a["rule"]: a for a in daemon.status()["alerts"]}
        assert (
            alerts["ServiceDown"]["suppressed"]
            == f"silenced by {created['id']} (alice: moving racks)"
        )
        async with http.get("/api/v1/silences") as resp:
            listed = (await resp.json())["silences"]
        assert [(s["id"], s["active"]) for s in listed] == [
            (scheduled["id"], False),
            (created["id"], True),
        ]
        async with http.delete(f"/api/v1/silences/{created['id']}", headers=auth) as resp:
            assert resp.status == 200
        async with http.delete(f"/api/v1/silences/{created['id']}", headers=auth) as resp:
            assert resp.status == 404
    assert {a["rule"]: a for a in daemon.status()["alerts"]}["ServiceDown"]["suppressed"] is None
    stored = [s.id for s in await daemon.store.load_silences()]
    assert stored == [scheduled["id"], created["id"]]


async def test_silence_command_line(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    """`sentinel silence add|list|expire` drive a running sentinel's API with the config's token."""
    config_path = daemon.settings.config
    url = base_url(daemon)
    add = [
        "silence",
        "-c",
        config_path,
        "--url",
        url,
        "add",
        "--match",
        "check=~de.*",
        "--duration",
        "30m",
        "--json",
    ]
    assert await asyncio.to_thread(main, [*add, "--author", "bob", "--comment", "cabling"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["matchers"] == {"check": "~de.*"}
    assert await asyncio.to_thread(main, ["silence", "-c", config_path, "--url", url, "list"]) == 0
    assert created["id"] in capsys.readouterr().out
    expire = ["silence", "-c", config_path, "--url", url, "expire", created["id"]]
    assert await asyncio.to_thread(main, expire) == 0
    assert await asyncio.to_thread(main, expire) == 1
    assert "404" in capsys.readouterr().err
    configure("debug", "json", Redactor(), io.StringIO())  # main() pointed logs at capsys' stream


async def test_a_reload_parses_off_the_event_loop(daemon: Daemon, tmp_path: Path) -> None:
    """A file that takes long to validate (10,000 checks, the last one invalid) leaves the
    loop free: its longest stall is a small part of the reload, not all of it."""
    path = Path(daemon.settings.config)
    lines = [
        f"  - {{name: c{i}, type: tcp, target: '127.0.0.1:{1000 + i}', interval: 10s}}"
        for i in range(10_000)
    ]
    last = "  - {name: last, type: tcp, target: '127.0.0.1:1', bogus: 1}\n"
    path.write_text("checks:\n" + "\n".join(lines) + "\n" + last)
    gaps: list[float] = []
    loop = asyncio.get_running_loop()

    async def ticker() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            gaps.append(loop.time() - before)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    started = loop.time()
    problems = await daemon.reload()
    took = loop.time() - started
    task.cancel()
    assert any("bogus" in p for p in problems)
    assert set(daemon.armed) == {"api", "dead", "backup"}
    assert max(gaps) < took / 3, (max(gaps), took)


async def test_a_file_that_is_not_utf8_fails_the_reload_in_one_line(
    daemon: Daemon, logs: io.StringIO
) -> None:
    """Invalid UTF-8: the running config stays, one JSON line config_reload_failed with the
    problem, and nothing of the file's bytes in the log."""
    path = Path(daemon.settings.config)
    path.write_bytes(b"checks: []\n# pass: s3cr3t-\xff\xfe-word\n")
    problems = await daemon.reload()
    assert len(problems) == 1
    assert str(path) in problems[0]
    assert set(daemon.armed) == {"api", "dead", "backup"}
    assert daemon.registry.get_sample_value("sentinel_config_last_reload_successful") == 0
    text = logs.getvalue()
    assert "s3cr3t" not in text
    failed = [json.loads(line) for line in text.splitlines() if "config_reload_failed" in line]
    assert [f["problems"] for f in failed] == [problems]


async def test_a_probe_that_cannot_be_built_is_a_failing_check(
    tmp_path: Path, target: Target
) -> None:
    """A Redis URL whose port is not a number (validation refuses it; here it slips past
    by model_construct): the daemon runs, that check fails with a reason on every run,
    the others run."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, target, free_port()))
    config = load_config(path, {})
    cache = RedisCheck.model_construct(
        name="cache",
        type="redis",
        url=SecretStr("redis://127.0.0.1:notaport/0"),
        interval=0.3,
        timeout=0.3,
    )
    config = config.model_copy(update={"checks": [*config.checks, cache]})
    d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, Redactor())
    await d.start()
    try:
        await until(d, lambda: {"api", "cache"} <= set(d.latest))
        assert d.latest["cache"].error == "invalid check configuration (ValueError)"
        assert d.latest["api"].ok
    finally:
        await d.stop()


async def test_a_failed_start_closes_what_it_opened(tmp_path: Path, target: Target) -> None:
    """Port taken: start() raises StartError naming the address, and closes the store, the
    writer, the dispatcher and the scheduler again (the store file opens again at once)."""
    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        config_text(tmp_path, target, free_port()).replace("127.0.0.1:0", f"127.0.0.1:{port}")
    )
    config = load_config(path, {})
    threads = set(threading.enumerate())
    d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, Redactor())
    try:
        with pytest.raises(StartError, match=f"cannot listen on 127.0.0.1:{port}: address"):
            await d.start()
    finally:
        taken.close()
    assert not d.scheduler.running
    assert isinstance(d.store, SqliteStore)
    with pytest.raises(StoreError, match="not open"):
        _ = d.store.db
    for worker in set(threading.enumerate()) - threads:  # the SQLite worker thread ends
        worker.join(5)
        assert not worker.is_alive(), worker.name
