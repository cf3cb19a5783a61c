"""`sentinel simulate`: the example scenario's timeline, scenario errors, quiet alerts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import structlog

from sentinel.app.daemon import Daemon
from sentinel.cli.main import main
from sentinel.clock import FakeClock
from sentinel.config import Config, load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from sentinel.probes.results import Result, Sample
from sentinel.simulate.replay import simulate as run_simulation
from sentinel.simulate.scenario import parse_scenario
from tests.conftest import free_port
from tests.examples import EXAMPLE_ENV, PROJECT_EXAMPLE

SCENARIO = PROJECT_EXAMPLE.parent / "scenario.example.yaml"

EXPECTED = """\
+00:00:00  production-api  check fails: connection refused
+00:01:00  ServiceDown production-api  FIRING (critical)
+00:01:00  SLO:production-api-availability:page-fast production-api-availability  FIRING (critical, quiet: inhibited by ServiceDown on production-api)
+00:01:00  -> sms +15550100001 (alice, oncall:primary)  firing ServiceDown production-api
+00:01:00  -> slack-alerts @alice (alice, oncall:primary)  firing ServiceDown production-api
+00:01:00  -> pagerduty  firing ServiceDown production-api
+00:01:00  -> slack-alerts  firing ServiceDown production-api
+00:02:00  SLO:production-api-availability:page-slow production-api-availability  FIRING (critical, quiet: inhibited by ServiceDown on production-api)
+00:05:00  HighErrorRate production-api  FIRING (high, quiet: inhibited by ServiceDown on production-api)
+00:05:00  SLO:production-api-availability:ticket production-api-availability  FIRING (medium, quiet: inhibited by ServiceDown on production-api)
+00:16:00  -> sms +15550100003 (eng-lead)  escalation ServiceDown production-api
+00:16:00  -> email lead@example.com (eng-lead)  escalation ServiceDown production-api
+00:20:00  ServiceDown production-api  acknowledged by alice
+00:20:00  -> sms +15550100001 (alice, oncall:primary)  acknowledged ServiceDown production-api
+00:20:00  -> slack-alerts @alice (alice, oncall:primary)  acknowledged ServiceDown production-api
+00:20:00  -> pagerduty  acknowledged ServiceDown production-api
+00:20:00  -> slack-alerts  acknowledged ServiceDown production-api
+00:20:00  -> sms +15550100003 (eng-lead)  acknowledged ServiceDown production-api
+00:20:00  -> email lead@example.com (eng-lead)  acknowledged ServiceDown production-api
+00:22:10  SLO:production-http-success:page-slow production-http-success  FIRING (high, quiet: inhibited by ServiceDown on production-api)
+00:40:00  production-api  check recovers
+00:40:00  ServiceDown production-api  RESOLVED after 39m
+00:40:00  HighErrorRate production-api  no longer quiet
+00:40:00  SLO:production-api-availability:page-fast production-api-availability  quiet: inhibited by ServiceDown on production-api (resolved 10:40:00 UTC; held until 10:46:00 UTC while the 5m window holds its failures)
+00:40:00  SLO:production-api-availability:page-slow production-api-availability  quiet: inhibited by ServiceDown on production-api (resolved 10:40:00 UTC; held until 11:11:00 UTC while the 30m window holds its failures)
+00:40:00  SLO:production-api-availability:ticket production-api-availability  quiet: inhibited by ServiceDown on production-api (resolved 10:40:00 UTC; held until 16:41:00 UTC while the 6h window holds its failures)
+00:40:00  SLO:production-http-success:page-slow production-http-success  quiet: inhibited by ServiceDown on production-api (resolved 10:40:00 UTC; held until 11:11:00 UTC while the 30m window holds its failures)
+00:40:00  -> sms +15550100001 (alice, oncall:primary)  resolved ServiceDown production-api
+00:40:00  -> slack-alerts @alice (alice, oncall:primary)  resolved ServiceDown production-api
+00:40:00  -> pagerduty  resolved ServiceDown production-api
+00:40:00  -> slack-alerts  resolved ServiceDown production-api
+00:40:00  -> sms +15550100003 (eng-lead)  resolved ServiceDown production-api
+00:40:00  -> email lead@example.com (eng-lead)  resolved ServiceDown production-api
+00:40:00  -> slack-alerts  firing HighErrorRate production-api
+00:40:00  -> email ops@example.com  firing HighErrorRate production-api
+00:44:00  SLO:production-api-availability:page-fast production-api-availability  RESOLVED after 43m
+00:44:45  HighErrorRate production-api  RESOLVED after 39m45s
+00:44:45  -> slack-alerts  resolved HighErrorRate production-api
+00:44:45  -> email ops@example.com  resolved HighErrorRate production-api
+01:09:00  SLO:production-api-availability:page-slow production-api-availability  RESOLVED after 1h7m
+01:09:00  SLO:production-http-success:page-slow production-http-success  RESOLVED after 46m50s
"""


@pytest.fixture(autouse=True)
def _example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    structlog.reset_defaults()
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)


def simulate(scenario: Path | str, config: Path = PROJECT_EXAMPLE) -> int:
    """The exit status `sentinel simulate` would end with."""
    try:
        return main(["simulate", "-c", str(config), "--scenario", str(scenario)])
    except SystemExit as exc:
        return int(exc.code or 0)


def rules_only(out: str) -> list[str]:
    """The timeline without the example config's SLO alerts (tests/test_simulate_slo.py)."""
    return [line for line in out.splitlines() if "SLO:" not in line]


def scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_example_scenario_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    """Fail at 0s, ack at 20m, recover at 40m: the exact timeline of who hears what."""
    assert simulate(SCENARIO) == 0
    assert capsys.readouterr().out == EXPECTED


def test_example_scenario_ack_and_resolution(capsys: pytest.CaptureFixture[str]) -> None:
    """On-call, PagerDuty and Slack at `for` after failing, the eng-lead 15m after firing,
    nobody new after the ack, and the resolution to exactly those told."""
    assert simulate(SCENARIO) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if "ServiceDown" in x and "->" in x]

    def told(kind: str) -> list[tuple[str, str]]:
        return [
            (line[:9], line.split("-> ")[1].split("  ")[0])
            for line in lines
            if f"  {kind} ServiceDown" in line
        ]

    first = [
        ("+00:01:00", "sms +15550100001 (alice, oncall:primary)"),
        ("+00:01:00", "slack-alerts @alice (alice, oncall:primary)"),
        ("+00:01:00", "pagerduty"),
        ("+00:01:00", "slack-alerts"),
    ]
    lead = [
        ("+00:16:00", "sms +15550100003 (eng-lead)"),
        ("+00:16:00", "email lead@example.com (eng-lead)"),
    ]
    assert told("firing") == first
    assert told("escalation") == lead  # and no cto at 31m: alice acked at 20m
    everyone = sorted(who for _, who in first + lead)
    assert sorted(who for _, who in told("acknowledged")) == everyone
    assert sorted(who for _, who in told("resolved")) == everyone
    assert {at for at, _ in told("resolved")} == {"+00:40:00"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "until: 1h\nevents:\n  - {at: 0s, check: nope, fail: x}\n",
            "line 3: events[0]: unknown check 'nope'",
        ),
        (
            "until: 1h\nevents:\n  - {at: soon, check: production-api, fail: x}\n",
            "line 3: events[0]: at: invalid duration 'soon'",
        ),
        ("until: forever\nevents: []\n", "line 1: until: invalid duration 'forever'"),
        (
            "until: 1h\nevents:\n  - {at: 0s, check: production-api, fial: x}\n",
            "line 3: events[0]: unknown key 'fial'",
        ),
        ("until: 1h\nstop: 2h\n", "line 2: unknown key 'stop'"),
        ("until: 32d\n", "until must be more than 0s and at most 31d"),
        (
            "until: 1h\nevents:\n  - {at: 2h, check: production-api, recover: true}\n",
            "at 2h is after until 1h",
        ),
        (
            "until: 1h\nevents:\n  - {at: 1m, ack: NoSuchRule}\n",
            "line 3: events[0]: unknown rule 'NoSuchRule'",
        ),
        ("until: 1h\nevents: [\n", "invalid YAML"),
    ],
)
def test_bad_scenario_exits_2_with_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    """A scenario that cannot be replayed exits 2, naming the file, the line and the reason."""
    path = scenario(tmp_path, text)
    assert simulate(path) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{path}: ")
    assert message in captured.err


def test_silence_pauses_until_it_ends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An alert firing under a silence pages nobody, and is paged when the silence ends."""
    path = scenario(
        tmp_path,
        "until: 12m\nevents:\n"
        "  - {at: 0s, silence: {alertname: ServiceDown}, for: 10m, by: bob, comment: deploy}\n"
        "  - {at: 0s, check: production-api, fail: refused}\n",
    )
    assert simulate(path) == 0
    assert rules_only(capsys.readouterr().out) == [
        "+00:00:00  silence sil-1 on alertname=ServiceDown for 10m (bob: deploy)",
        "+00:00:00  production-api  check fails: refused",
        "+00:01:00  ServiceDown production-api  FIRING (critical, quiet: silenced by sil-1 (bob: deploy))",
        "+00:05:00  HighErrorRate production-api  FIRING (high, quiet: inhibited by ServiceDown on production-api)",
        "+00:10:00  ServiceDown production-api  no longer quiet",
        "+00:10:00  -> sms +15550100001 (alice, oncall:primary)  firing ServiceDown production-api",
        "+00:10:00  -> slack-alerts @alice (alice, oncall:primary)  firing ServiceDown production-api",
        "+00:10:00  -> pagerduty  firing ServiceDown production-api",
        "+00:10:00  -> slack-alerts  firing ServiceDown production-api",
    ]


def test_failed_dependency_keeps_the_alert_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With its database down, the API's alert fires quiet and nobody is told."""
    path = scenario(
        tmp_path,
        "until: 10m\nevents:\n"
        "  - {at: 0s, check: production-db, fail: too many connections}\n"
        "  - {at: 0s, check: production-api, fail: 502}\n",
    )
    assert simulate(path) == 0
    assert rules_only(capsys.readouterr().out) == [
        "+00:00:00  production-db  check fails: too many connections",
        "+00:00:00  production-api  check fails: 502",
        "+00:01:00  ServiceDown production-api  FIRING (critical, quiet: dependency production-db is down)",
        "+00:05:00  HighErrorRate production-api  FIRING (high, quiet: dependency production-db is down)",
    ]


def test_samples_drive_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Sample values set by the scenario feed the rules: HighCpu fires after its `for`."""
    path = scenario(
        tmp_path,
        "until: 12m\nevents:\n"
        "  - {at: 0s, check: production-system, samples: {cpu_usage_percent: 95}}\n",
    )
    assert simulate(path) == 0
    assert rules_only(capsys.readouterr().out) == [
        "+00:00:00  production-system  samples cpu_usage_percent=95",
        "+00:10:00  HighCpu production-system  FIRING (medium)",
        "+00:10:00  -> slack-alerts  firing HighCpu production-system",
    ]


def test_simulate_needs_no_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is sent, so an unset ${VAR} reads as <VAR>: the example replays with an empty
    environment, the same timeline; validate still names every unset variable."""
    for name in EXAMPLE_ENV:
        monkeypatch.delenv(name)
    assert simulate(SCENARIO) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (EXPECTED, "")
    assert main(["validate", "-c", str(PROJECT_EXAMPLE)]) == 2
    assert "environment variable SLACK_BOT_TOKEN is not set" in capsys.readouterr().err


VOICE_CONFIG = """
server: {external_url: "https://sentinel.example.com"}
storage: {url: "sqlite:STATE"}
checks:
  - {name: api, type: tcp, target: "127.0.0.1:9", interval: 10s}
rules:
  - {name: ApiDown, match: {check: api}, expr: up == 0, severity: critical}
contacts:
  alice: {phone: "+15550100001", via: [voice]}
channels:
  phone: {type: voice, account_sid: "${TWILIO_SID}", auth_token: "${TWILIO_TOKEN}",
          from: "+15550109999"}
escalation:
  critical: [{after: 0s, notify: [alice]}]
"""


def test_voice_channel_renders_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A voice channel's call shows in the timeline; nothing is called, no token needed."""
    config = tmp_path / "voice.yaml"
    config.write_text(VOICE_CONFIG.replace("STATE", str(tmp_path / "s.db")))
    path = scenario(tmp_path, "until: 1m\nevents:\n  - {at: 0s, check: api, fail: refused}\n")
    assert simulate(path, config) == 0
    out = capsys.readouterr().out.splitlines()
    assert "+00:00:00  -> phone +15550100001 (alice)  firing ApiDown api" in out


FOR_CONFIG = """
storage: {{url: "sqlite:{state}"}}
checks:
  - {{name: api, type: tcp, target: "127.0.0.1:{port}", interval: 10s}}
rules:
  - {{name: ApiDown, match: {{check: api}}, expr: up == 0, for: 7s, severity: critical}}
"""


async def daemon_fires_at(config: Config, start: datetime) -> float:
    """When the daemon fires ApiDown, seconds after ``start``: its own result handler
    and `for` timer on a fake clock, fed a failing result every 10 s as its scheduler would."""
    clock = FakeClock(start)
    daemon = Daemon(config, Settings(), clock, {}, Redactor())
    await daemon.store.open()
    daemon.rules.configure(config)
    try:
        for _ in range(3):
            daemon._observe(
                Result(
                    check="api",
                    type="tcp",
                    ok=False,
                    started_at=clock.now(),
                    duration=0.05,
                    error="connection refused",
                    samples=(Sample("up", 0.0),),
                )
            )
            await clock.advance(10)
        fired = [i.state.fired_at for i in daemon.rules.active() if i.state.fired_at]
    finally:
        await daemon.stop()
        # opened here, not by start(): stop() closes only what start() opened
        await daemon.store.close()
    assert fired, "the daemon never fired"
    return fired[0] - start.timestamp()


async def test_simulate_fires_when_the_daemon_does(tmp_path: Path) -> None:
    """A check failing every 10 s, a rule with `for: 7s`: the daemon fires at the deadline
    (7 s), not at the next result (10 s); simulate's replay says the same second."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(FOR_CONFIG.format(state=tmp_path / "state.db", port=free_port()))
    config = load_config(path, {})
    plan = parse_scenario("until: 30s\nevents:\n  - {at: 0s, check: api, fail: refused}\n", "s")
    timeline = await run_simulation(config, plan)
    firing = next(line for line in timeline if "FIRING" in line)
    expected = await daemon_fires_at(config, plan.start)
    assert int(expected) == 7
    assert firing == f"+00:00:{int(expected):02d}  ApiDown api  FIRING (critical)"
