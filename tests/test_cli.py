"""The command line: validate and check exit codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from sentinel.cli import main
from tests.conftest import Target, free_port

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
