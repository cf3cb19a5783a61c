"""The command line: help and version, validate and check exit codes and messages, and\nthe tables of the commands that drive a running sentinel (silence, ack)."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog

from sentinel import __version__
from sentinel.app.daemon import Daemon
from sentinel.cli.main import COMMANDS, main
from sentinel.logs import Redactor, configure
from tests.conftest import Target, free_port
from tests.polling import eventually
from tests.web.test_page import base_url, firing_escalated, start_daemon

ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def _reset_logging() -> None:
    structlog.reset_defaults()


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sentinel.yaml"
    path.write_text(text)
    return str(path)


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """validate exits 0 and says what it found."""
    assert main(["validate", "-c", str(ROOT / "config" / "demo.yaml")]) == 0
    assert "ok (5 checks" in capsys.readouterr().out


def test_validate_error_exits_2_with_file_path_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad file exits 2 with file:line: path: reason, and no traceback."""
    path = write(
        tmp_path, "checks:\n  - name: a\n    type: tcp\n    target: h:1\n    interval: soon\n"
    )
    assert main(["validate", "-c", path]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5: checks[0].interval: invalid duration 'soon'" in err
    assert "Traceback" not in err


def test_validate_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not there is a config error (2), not a crash."""
    assert main(["validate", "-c", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read config" in capsys.readouterr().err


def test_check_prints_a_table_and_exits_1_when_one_fails(
    tmp_path: Path, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """check runs every check once: the passing one says ok, the dead port FAIL, exit 1."""
    path = write(
        tmp_path,
        f"""
checks:
  - {{name: api, type: http, url: "{target.url}/health", expect: {{json: {{$.status: healthy}}}}}}
  - {{name: dead, type: tcp, target: "127.0.0.1:{free_port()}"}}
""",
    )
    assert main(["check", "-c", path]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["CHECK", "TYPE", "OK", "LATENCY", "REASON"]
    api = next(line for line in out if line.startswith("api"))
    dead = next(line for line in out if line.startswith("dead"))
    assert api.split()[:3] == ["api", "http", "ok"]
    assert dead.split()[:3] == ["dead", "tcp", "FAIL"]
    assert "connection refused" in dead


def test_check_only_selects_and_exits_0_when_all_pass(
    tmp_path: Path, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """--only runs the named checks; all passing exits 0."""
    path = write(
        tmp_path,
        f"""
checks:
  - {{name: api, type: http, url: "{target.url}/health"}}
  - {{name: dead, type: tcp, target: "127.0.0.1:{free_port()}"}}
""",
    )
    assert main(["check", "-c", path, "--only", "api"]) == 0
    out = capsys.readouterr().out
    assert "dead" not in out
    assert target.hits["/health"] == 1


def test_check_unknown_name_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--only with a name not in the config is a usage error."""
    path = write(tmp_path, "checks:\n  - {name: a, type: tcp, target: 'h:1'}\n")
    assert main(["check", "-c", path, "--only", "zzz"]) == 2
    assert "unknown check: zzz" in capsys.readouterr().err


# -- help and version ------------------------------------------------------------


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_every_command_in_plain_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`sentinel --help`: no reST markup, every command (schema too) with its line."""
    out = help_of(["--help"], capsys)
    assert "``" not in out
    assert ":mod:" not in out
    for name, (summary, _) in COMMANDS.items():
        assert re.search(rf"^\s+{re.escape(name)}\s", out, re.M), name
        assert " ".join(summary.split()[:3]) in " ".join(out.split()), name
    assert "Exit codes: 0 success" in out


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert help_of(["--version"], capsys) == f"sentinel {__version__}\n"
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"sentinel {__version__}\n"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_describes_itself(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`sentinel COMMAND --help` says what the command does, not only its usage."""
    out = " ".join(help_of([name, "--help"], capsys).split())
    description = " ".join(COMMANDS[name][1].split())
    assert description[:60] in out


def test_readme_command_table_has_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `sentinel")]
    for name in COMMANDS:
        assert any(line.startswith(f"| `sentinel {name}") for line in table), name
    assert any("`sentinel --version`" in line for line in table)


# -- silence and ack on a running sentinel ----------------------------------------


DAEMON_CONFIG = """
server:
  listen: "127.0.0.1:0"
  api_token: "cli-test-token"
storage:
  url: "sqlite:{state}"
checks:
  - {{name: dead, type: tcp, target: "127.0.0.1:{port}", interval: 200ms, timeout: 200ms}}
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical}}
channels:  # nobody listens there: the sends are retried quietly, stdout stays the CLI's
  hook: {{type: webhook, url: "http://127.0.0.1:{hook_port}/hook"}}
escalation:
  critical:
    - {{after: 0s, notify: [hook]}}
    - {{after: 1h, notify: [hook]}}
"""


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Daemon, str]]:
    """A real sentinel on a loopback port, and its config file (for the CLI's token)."""
    path = tmp_path / "sentinel.yaml"
    text = DAEMON_CONFIG.format(
        state=tmp_path / "state.db", port=free_port(), hook_port=free_port()
    )
    path.write_text(text)
    configure("info", "json", Redactor(), io.StringIO())  # the daemon's logs, until main()'s
    daemon = await start_daemon(tmp_path, text)
    yield daemon, str(path)
    structlog.reset_defaults()  # main() pointed the logs at capsys' stream, closed by now
    await daemon.stop()


async def cli(*argv: str) -> int:
    """The CLI, from a thread: its urllib call blocks while the daemon answers here."""
    return await asyncio.to_thread(main, list(argv))


async def test_silence_add_and_list_print_a_table_and_json_on_request(
    running: tuple[Daemon, str], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, path = running
    remote = ("-c", path, "--url", base_url(daemon))
    add = ["add", "--match", "check=other", "--duration", "30m", "--author", "bob"]
    assert await cli("silence", *remote, *add, "--comment", "moving racks") == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "STATE", "ENDS", "MATCHERS", "AUTHOR", "COMMENT"]
    sid = row.split()[0]
    assert sid.startswith("sil-")
    assert row.split()[1] == "active"
    assert row.endswith("check=other  bob     moving racks")

    assert await cli("silence", *remote, "list") == 0
    out = capsys.readouterr().out
    assert "{" not in out  # a table, not the API's JSON
    lines = out.splitlines()
    assert len(lines) == 2  # the header and the one silence, once
    assert lines[1].split()[0] == sid

    assert await cli("silence", *remote, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in listed] == [sid]

    assert await cli("silence", *remote, "expire", sid) == 0
    assert capsys.readouterr().out == f"silence {sid} expired\n"
    assert await cli("silence", *remote, "list") == 0
    assert capsys.readouterr().out == "no active or upcoming silences\n"
    assert await cli("silence", *remote, "expire", sid) == 1
    assert "sentinel answered 404: no such active silence" in capsys.readouterr().err


async def test_ack_prints_the_alert_as_a_table_and_json_on_request(
    running: tuple[Daemon, str], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, path = running
    remote = ("-c", path, "--url", base_url(daemon))
    await eventually(lambda: firing_escalated(daemon))
    fingerprint = next(a["fingerprint"] for a in daemon.status()["alerts"])

    assert await cli("ack", *remote, fingerprint[:6], "--by", "ada") == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "RULE", "CHECK", "SEVERITY", "STATE", "ACKNOWLEDGED", "BY"]
    assert row.split() == [
        fingerprint[:6], "ServiceDown", "dead", "critical", "firing", "ada", "via", "cli"
    ]  # fmt: skip
    assert daemon.escalator.progress[fingerprint].acked_by == "ada via cli"

    assert await cli("ack", *remote, fingerprint[:6], "--undo", "--json") == 0
    alert = json.loads(capsys.readouterr().out)
    assert alert["fingerprint"] == fingerprint
    assert alert["escalation"]["acknowledged_by"] is None

    assert await cli("ack", *remote, "zzzzzz", "--by", "ada") == 1
    assert "sentinel answered 404: no such escalating alert" in capsys.readouterr().err
