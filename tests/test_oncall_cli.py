"""``sentinel oncall``: the table, the schedule's local times, and exit 2 for bad input."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from sentinel.cli.main import main
from sentinel.cli.oncall import oncall_command
from sentinel.clock import FakeClock
from sentinel.config import parse_config

CONFIG = """
contacts:
  alice: {email: alice@example.com}
  bob: {email: bob@example.com}
  carol: {email: carol@example.com}
oncall:
  primary:
    rotation: [alice, bob]
    shift: 1w
    handoff: "2026-01-05T09:00:00"
    timezone: Europe/London
    overrides:
      - {who: bob, from: "2026-12-24T09:00:00", until: "2026-12-27T09:00:00"}
  nights:
    rotation: [carol]
    shift: 12h
    handoff: "2026-01-05T21:00:00"
    timezone: America/New_York
"""


@pytest.fixture(autouse=True)
def _reset_logging() -> None:
    structlog.reset_defaults()


@pytest.fixture
def config_path(tmp_path: Path) -> str:
    path = tmp_path / "sentinel.yaml"
    path.write_text(CONFIG)
    return str(path)


def test_table_across_the_spring_change(
    config_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """On 25 March bob is on call; the next handoffs are at 09:00 local, GMT then BST."""
    assert main(["oncall", "-c", config_path, "--at", "2026-03-25T12:00:00Z"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["SCHEDULE", "ON", "CALL", "NEXT", "HANDOFF", "TO", "WHY"]
    assert out[1].split() == [
        "primary",
        "bob",
        "2026-03-30",
        "09:00+01:00",
        "BST",
        "alice",
        "rotation",
    ]
    assert out[2].split() == ["2026-04-06", "09:00+01:00", "BST", "bob", "rotation"]
    assert out[3].split() == ["2026-04-13", "09:00+01:00", "BST", "alice", "rotation"]
    assert out[4].split() == [
        "nights",
        "carol",
        "-",
        "-",
        "nobody",
        "else",
        "is",
        "ever",
        "on",
        "call",
    ]


def test_schedule_selects_one_and_shows_overrides(
    config_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--schedule primary before Christmas: the override's start and end are handoffs."""
    argv = ["oncall", "-c", config_path, "--schedule", "primary", "--at", "2026-12-22T00:00:00"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        "primary   alice    2026-12-24 09:00+00:00 GMT  bob    override start",
        "                   2026-12-27 09:00+00:00 GMT  alice  override end",
        "                   2026-12-28 09:00+00:00 GMT  bob    rotation",
    ]


def test_at_with_an_offset(config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--at 2026-03-30T09:00:00+01:00 is the handoff instant itself: alice is on call."""
    argv = [
        "oncall",
        "-c",
        config_path,
        "--schedule",
        "primary",
        "--at",
        "2026-03-30T09:00:00+01:00",
    ]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["primary", "alice"]


def test_config_from_the_environment(
    config_path: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without -c the file comes from $SENTINEL_CONFIG, as for validate and check."""
    monkeypatch.setenv("SENTINEL_CONFIG", config_path)
    assert main(["oncall", "--at", "2026-03-25T12:00:00Z"]) == 0
    assert "primary   bob" in capsys.readouterr().out


def test_unknown_schedule_exits_2(config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --schedule exits 2 and names the schedules there are."""
    assert main(["oncall", "-c", config_path, "--schedule", "secondary"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown schedule 'secondary' (known: primary, nights)" in captured.err


@pytest.mark.parametrize("at", ["tomorrow", "2026-13-01T00:00:00", "", "09:00"])
def test_bad_at_exits_2(config_path: str, at: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A --at that is not an ISO 8601 date and time exits 2 with an example of one."""
    assert main(["oncall", "-c", config_path, "--at", at]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"--at {at!r}: not an ISO 8601 time; use e.g. 2026-03-29T09:00:00Z" in captured.err


def test_no_schedules_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config without oncall: has nothing to show, and says so."""
    path = tmp_path / "empty.yaml"
    path.write_text("checks: []\n")
    assert main(["oncall", "-c", str(path)]) == 2
    assert "no on-call schedules" in capsys.readouterr().err


def test_default_time_is_the_clock(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --at the command asks its clock once: on 13 January 12:00Z bob is on call."""
    config = parse_config(CONFIG, "t.yaml", {})
    args = argparse.Namespace(at=None, schedule="primary")
    clock = FakeClock(start=datetime(2026, 1, 13, 12, 0, tzinfo=UTC))
    assert oncall_command(args, config, clock) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["primary", "bob", "2026-01-19"]


def test_default_time_through_main(config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --at main reads the system clock and still prints a row per schedule."""
    assert main(["oncall", "-c", config_path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out if not line.startswith(" ")] == [
        "SCHEDULE",
        "primary",
        "nights",
    ]
