"""`sentinel simulate` takes alerts from sources in a scenario, through the same
alert shell as the daemon: one alert per label set, repeats page nobody, routes pick
their policy, a resolve resolves."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from sentinel.cli.main import main
from sentinel.simulate.scenario import ScenarioError, parse_scenario
from tests.examples import EXAMPLE_ENV, PROJECT_EXAMPLE

SCENARIO = """\
until: 40m
events:
  - {at: 0s, source: prometheus, fire: {alertname: DiskFull, severity: critical, instance: db-1},
     summary: "Disk 95% full"}
  - {at: 10s, source: prometheus, fire: {alertname: DiskFull, severity: critical, instance: db-1}}
  - {at: 1m, source: prometheus, fire: {alertname: DiskFull, severity: warning, instance: db-2,
     team: db}}
  - {at: 30m, source: prometheus, resolve: {alertname: DiskFull, severity: critical, instance: db-1}}
"""


@pytest.fixture(autouse=True)
def _example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    structlog.reset_defaults()
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)


def simulate(path: Path) -> int:
    try:
        return main(["simulate", "-c", str(PROJECT_EXAMPLE), "--scenario", str(path)])
    except SystemExit as exc:
        return int(exc.code or 0)


def test_external_alerts_in_a_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    assert simulate(path) == 0
    out = capsys.readouterr().out.splitlines()
    db1 = 'DiskFull prometheus{alertname="DiskFull",instance="db-1",severity="critical"}'
    assert f"+00:00:00  {db1}  FIRING (critical)" in out
    assert "+00:00:00  -> pagerduty  firing DiskFull prometheus" in out
    assert any(
        line.startswith("+00:00:10  prometheus firing") and "repeated" in line for line in out
    )
    assert not [line for line in out if line.startswith("+00:00:10  ->")]
    # team: db routes to the db-team policy (slack-alerts and the DBAs' mail).
    assert "+00:01:00  -> email dba@example.com  firing DiskFull prometheus" in out
    assert f"+00:30:00  {db1}  RESOLVED after 30m" in out
    assert "+00:30:00  -> pagerduty  resolved DiskFull prometheus" in out


def test_unknown_source_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("until: 1m\nevents:\n  - {at: 0s, source: nope, fire: {alertname: X}}\n")
    assert simulate(path) == 2
    assert "line 3: events[0]: unknown source 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("{at: 0s, fire: {alertname: X}}", "fire needs source:"),
        ("{at: 0s, source: p, fire: {}}", "fire must be the alert's labels"),
        ("{at: 0s, source: p, fire: {a: 1}}", "fire must be the alert's labels"),
        ("{at: 0s, source: p, fire: {a: b}, check: api}", "check do not belong to fire:"),
        ("{at: 0s, source: p, fire: {a: b}, fail: x}", "give exactly one of"),
        ("{at: 0s, source: p, check: api, recover: true}", "source: and summary: belong to"),
    ],
)
def test_bad_external_events_name_the_line(event: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(f"until: 1m\nevents:\n  - {event}\n")
