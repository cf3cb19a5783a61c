"""``sentinel healthcheck``: exit 0 on /ready 200, 1 with one line otherwise; no config needed."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from aiohttp import web

from sentinel.app.daemon import Daemon
from sentinel.cli.healthcheck import healthcheck, ready_url, resolve_url
from sentinel.cli.main import main
from sentinel.clock import SystemClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor, configure
from tests.conftest import free_port, serve_in_thread


@dataclass
class Stub:
    """A local /ready whose answer the test sets."""

    port: int = 0
    status: int = 200
    delay: float = 0.0
    hits: int = 0

    @property
    def listen(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.listen}/ready"


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    async def ready(_: web.Request) -> web.Response:
        state.hits += 1
        await asyncio.sleep(state.delay)
        ok = state.status == 200
        body = {"ready": ok, "store_reachable": ok, "scheduler_running": ok}
        return web.json_response(body, status=state.status)

    app = web.Application()
    app.router.add_get("/ready", ready)
    with serve_in_thread(app) as port:
        state.port = port
        yield state


@pytest.fixture(autouse=True)
def _no_sentinel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test sets the environment it means; none reads /etc/sentinel."""
    monkeypatch.delenv("SENTINEL_LISTEN", raising=False)
    monkeypatch.setenv("SENTINEL_CONFIG", str(tmp_path / "absent.yaml"))


def test_ready_exits_0_with_one_line(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:
    """/ready 200 exits 0 and says so in one line on stdout."""
    assert main(["healthcheck", "--url", stub.url]) == 0
    out, err = capsys.readouterr()
    assert out == f"ready: {stub.url}\n"
    assert err == ""
    assert stub.hits == 1


def test_not_ready_exits_1_with_the_reason(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:
    """/ready 503 exits 1 with one stderr line naming the status and the readiness JSON."""
    stub.status = 503
    assert main(["healthcheck", "--url", stub.url]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"not ready: {stub.url} answered 503: ")
    assert '"store_reachable":false' in err


def test_any_status_but_200_is_unhealthy(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:
    """A 204 or a 500 is not a ready answer either."""
    for status in (204, 500):
        stub.status = status
        assert main(["healthcheck", "--url", stub.url]) == 1
        assert f"answered {status}" in capsys.readouterr().err


def test_nothing_listening_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A refused connection exits 1 with 'cannot reach' and the address."""
    url = f"http://127.0.0.1:{free_port()}/ready"
    assert main(["healthcheck", "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"not ready: cannot reach {url}: ")
    assert err.count("\n") == 1


def test_a_slow_answer_times_out(stub: Stub) -> None:
    """An answer slower than the timeout exits 1 rather than hanging the container's check."""
    stub.delay = 1.0
    out, err = io.StringIO(), io.StringIO()
    assert healthcheck(stub.url, None, {}, out, err, timeout=0.3) == 1
    assert "timed out" in err.getvalue()
    assert out.getvalue() == ""


def test_sentinel_listen_sets_the_port_without_a_config(
    stub: Stub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With SENTINEL_LISTEN and no readable config file, the command asks that port."""
    monkeypatch.setenv("SENTINEL_LISTEN", f"0.0.0.0:{stub.port}")
    assert main(["healthcheck"]) == 0
    assert capsys.readouterr().out == f"ready: http://127.0.0.1:{stub.port}/ready\n"


def test_the_config_file_gives_the_port(
    stub: Stub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SENTINEL_LISTEN, server.listen from $SENTINEL_CONFIG or -c is used."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(f'server: {{listen: "{stub.listen}"}}\n')
    monkeypatch.setenv("SENTINEL_CONFIG", str(path))
    assert main(["healthcheck"]) == 0
    monkeypatch.setenv("SENTINEL_CONFIG", str(tmp_path / "absent.yaml"))
    assert main(["healthcheck", "-c", str(path)]) == 0
    assert stub.hits == 2


def test_sentinel_listen_wins_over_the_config_file(tmp_path: Path) -> None:
    """The environment overrides server.listen, as it does for the daemon."""
    path = tmp_path / "sentinel.yaml"
    path.write_text('server: {listen: "127.0.0.1:1111"}\n')
    env = {"SENTINEL_CONFIG": str(path), "SENTINEL_LISTEN": "127.0.0.1:2222"}
    assert resolve_url(None, None, env) == "http://127.0.0.1:2222/ready"
    assert resolve_url(None, None, {"SENTINEL_CONFIG": str(path)}) == "http://127.0.0.1:1111/ready"


def test_an_unusable_config_falls_back_to_the_default(tmp_path: Path) -> None:
    """A missing, invalid or non-UTF-8 config file means 127.0.0.1:9464, not a crash."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("checks: [{name: a, type: nope}]\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    default = "http://127.0.0.1:9464/ready"
    assert resolve_url(None, str(tmp_path / "absent.yaml"), {}) == default
    assert resolve_url(None, str(bad), {}) == default
    assert resolve_url(None, str(binary), {}) == default
    assert resolve_url(None, None, {"SENTINEL_LISTEN": "not an address"}) == default


def test_listen_addresses_map_to_a_reachable_url() -> None:
    """Wildcards become loopback; specific hosts stay, IPv6 in brackets; --url wins."""
    assert ready_url("0.0.0.0:9464") == "http://127.0.0.1:9464/ready"
    assert ready_url("[::]:9000") == "http://127.0.0.1:9000/ready"
    assert ready_url(":9001") == "http://127.0.0.1:9001/ready"
    assert ready_url("10.1.2.3:9464") == "http://10.1.2.3:9464/ready"
    assert ready_url("[::1]:9464") == "http://[::1]:9464/ready"
    assert resolve_url("http://x/ready", None, {"SENTINEL_LISTEN": "1.2.3.4:1"}) == "http://x/ready"


def test_works_when_the_config_would_not_load(
    stub: Stub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command is dispatched before the config loads: a broken file is no exit 2."""
    path = tmp_path / "broken.yaml"
    path.write_text("checks: [\n")
    assert main(["healthcheck", "-c", str(path), "--url", stub.url]) == 0
    assert main(["validate", "-c", str(path)]) == 2
    capsys.readouterr()


async def test_against_a_running_sentinel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real in-process sentinel turns ready (exit 0); once stopped the check exits 1."""
    listen = f"127.0.0.1:{free_port()}"
    path = tmp_path / "sentinel.yaml"
    path.write_text(f'server: {{listen: "{listen}"}}\nstorage: {{url: "sqlite:{tmp_path}/s.db"}}\n')
    configure("info", "json", Redactor(), io.StringIO())
    daemon = Daemon(
        load_config(path, {}), Settings(config=str(path)), SystemClock(), {}, Redactor()
    )
    monkeypatch.setenv("SENTINEL_CONFIG", str(path))
    await daemon.start()
    try:
        code = 1
        for _ in range(100):  # ready after the scheduler's first tick; bounded at ~10 s
            code = await asyncio.to_thread(main, ["healthcheck"])
            if code == 0:
                break
            await asyncio.sleep(0.1)
        assert code == 0
    finally:
        await daemon.stop()
        structlog.reset_defaults()
    assert await asyncio.to_thread(main, ["healthcheck"]) == 1
    assert "cannot reach" in capsys.readouterr().err.splitlines()[-1]


def test_the_console_script_answers_without_loading_the_daemon(stub: Stub) -> None:
    """`sentinel healthcheck` is the container's HEALTHCHECK (5 s timeout): it imports
    neither cli/main nor the daemon, which take seconds to import on a loaded host; and
    the other commands still reach cli/main through the same entry point."""
    code = (
        "import sys\n"
        "from sentinel.cli.entry import main\n"
        f"rc = main(['healthcheck', '--url', {stub.url!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('sentinel.cli.main', "
        "'sentinel.app', 'sentinel.web', 'sentinel.store', 'aiohttp')))\n"
        "print(rc, heavy)\n"
        "main(['version'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0] == f"ready: {stub.url}"
    assert lines[1] == "0 []"
    assert lines[2].startswith("sentinel ")
    assert stub.hits == 1
