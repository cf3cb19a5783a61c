"""SLO burn-rate parity with Prometheus: the same two counters (requests and errors,
sampled each minute) go through sentinel's SLO engine (a ``ratio`` indicator) and through
the recording rules and multiwindow, multi-burn-rate alerts that Sloth and Pyrra generate,
run by `promtool test rules`. sentinel's firing state at every minute is written as the
expectation; the minute on either side of each of sentinel's transitions is left out,
the tolerance its per-minute counters need. So promtool passes only if Prometheus fires
and resolves each alert within one evaluation interval of sentinel.

sentinel's pairs have hysteresis (docs/slos.md): once firing, a pair resolves when its
long window drops below the factor or its short window below half of it. The generated
alert says the same with the classic PromQL hysteresis, the alert's own ``ALERTS``
series from the previous evaluation:
``(long > f and short > f) or (long > f and short > f/2 and on() ALERTS{...firing})``.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from sentinel.config import parse_config
from sentinel.probes.results import Result, Sample
from sentinel.rules.slo_engine import SloEngine
from tests.deploy.promtool import promtool as find_promtool

START = datetime(2026, 1, 1, tzinfo=UTC)
OBJECTIVE = 0.999
PAIRS = {  # alert -> (factor, long, short) in minutes: the SRE workbook's two pages
    "page-fast": (14.4, 60, 5),
    "page-slow": (6.0, 360, 30),
}
HYSTERESIS = 0.5  # the default: a firing pair's short window needs half the factor
WARM = 7 * 60  # minutes of history before the first checked evaluation: 6h covered
PULSES = (1 + WARM + 90, 240)  # (first minute, minutes) of 150 errors every 20 minutes

CONFIG = """
checks:
  - {name: api, type: prometheus, url: "http://127.0.0.1:9/metrics", interval: 1m}
slos:
  - name: api
    match: {check: api}
    objective: 99.9%
    indicator: ratio
    samples: {total: requests_total, bad: errors_total}
    alerts: {ticket: null}
"""


def series() -> tuple[list[float], list[float]]:
    """Per-minute counter values: a healthy start, a 10% spike (pages fast and slow),
    quiet again (each resolves as its short window clears), then 150 errors every 20
    minutes for 4 hours (the 30m window holds one pulse, 5x, or two, 10x: page-slow fires
    at the second and, with hysteresis, stays), then 1% errors (10x: the slow page)
    through a reset of both counters (an exporter restart)."""
    pulses = [150 if m % 20 == 0 else 0 for m in range(PULSES[1])]
    phases = [[0] * WARM, [100] * 30, [0] * 60, pulses, [10] * 120]
    assert 1 + sum(map(len, phases[:3])) == PULSES[0]
    requests, errors = [1_000_000.0], [1_000.0]
    for phase in phases:
        for bad in phase:
            requests.append(requests[-1] + 1000)
            errors.append(errors[-1] + bad)
    reset = len(requests) - 60
    for i in range(reset, len(requests)):  # both counters restart from zero
        requests[i] = (i - reset + 1) * 1000.0
        errors[i] = (i - reset + 1) * 10.0
    return requests, errors


def sentinel_firing(requests: list[float], errors: list[float]) -> dict[str, list[bool]]:
    """Whether each pair fires at each minute, in sentinel's SLO engine (run each minute,
    the sample observed first, as promtool's evaluation sees the sample of that minute)."""
    engine = SloEngine()
    engine.configure(parse_config(CONFIG, "slo.yaml", {}))
    firing: dict[str, list[bool]] = {pair: [] for pair in PAIRS}
    for minute, (req, err) in enumerate(zip(requests, errors, strict=True)):
        now = START + timedelta(minutes=minute)
        samples = (Sample("requests_total", req), Sample("errors_total", err))
        engine.observe(Result("api", "prometheus", True, now, 0.1, None, samples), now)
        engine.tick(now)
        live = {i.rule.rsplit(":", 1)[1] for i in engine.active() if i.state.state == "firing"}
        for pair in PAIRS:
            firing[pair].append(pair in live)
    return firing


def rules() -> str:
    """Sloth-style recording rules (error ratio per window) and one alert per pair."""
    windows = sorted({w for _, long, short in PAIRS.values() for w in (long, short)})
    recording = [
        {
            "record": f"slo:sli_error:ratio_rate{w}m",
            "expr": f"sum(rate(errors_total[{w}m])) / sum(rate(requests_total[{w}m]))",
        }
        for w in windows
    ]
    budget = f"{1 - OBJECTIVE:.3f}"
    alerts = [
        {
            "alert": pair,
            "expr": (
                f"(slo:sli_error:ratio_rate{long}m > ({factor} * {budget}))"
                f" and (slo:sli_error:ratio_rate{short}m > ({factor} * {budget}))"
                f" or (slo:sli_error:ratio_rate{long}m > ({factor} * {budget}))"
                f" and (slo:sli_error:ratio_rate{short}m > ({HYSTERESIS * factor:g} * {budget}))"
                f' and on() ALERTS{{alertname="{pair}", alertstate="firing"}}'
            ),
            "labels": {"severity": "critical"},
        }
        for pair, (factor, long, short) in PAIRS.items()
    ]
    return yaml.safe_dump(
        {"groups": [{"name": "slo", "interval": "1m", "rules": [*recording, *alerts]}]}
    )


def unit_test(requests: list[float], errors: list[float], firing: dict[str, list[bool]]) -> str:
    checks = []
    for pair, states in firing.items():
        changes = {m for m in range(1, len(states)) if states[m] != states[m - 1]}
        for minute in range(WARM, len(states)):
            if any(abs(minute - c) <= 1 for c in changes):
                continue  # within one evaluation interval of a transition
            expected = [{"exp_labels": {"severity": "critical"}}] if states[minute] else []
            checks.append({"eval_time": f"{minute}m", "alertname": pair, "exp_alerts": expected})
    return yaml.safe_dump(
        {
            "rule_files": ["rules.yaml"],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": "requests_total",
                            "values": " ".join(f"{v:g}" for v in requests),
                        },
                        {"series": "errors_total", "values": " ".join(f"{v:g}" for v in errors)},
                    ],
                    "alert_rule_test": checks,
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_promtool()


def test_burn_rate_alerts_fire_and_resolve_when_prometheus_does(
    promtool: str, tmp_path: Path
) -> None:
    requests, errors = series()
    firing = sentinel_firing(requests, errors)
    for pair, states in firing.items():  # not vacuous: each pair fires and resolves
        fired = [m for m in range(1, len(states)) if states[m] and not states[m - 1]]
        resolved = [m for m in range(1, len(states)) if states[m - 1] and not states[m]]
        assert fired, pair
        assert resolved, pair
    # the pulses: page-slow fires at the second and stays (its 30m window at 5x or 10x)
    slow = firing["page-slow"][PULSES[0] : PULSES[0] + PULSES[1]]
    assert slow.index(True) == 20
    assert all(slow[20:])
    (tmp_path / "rules.yaml").write_text(rules())
    (tmp_path / "test.yaml").write_text(unit_test(requests, errors, firing))
    proc = subprocess.run(
        [promtool, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (
        f"sentinel fired {transitions(firing)}\n{proc.stdout.decode()[-4000:]}"
        f"{proc.stderr.decode()[-4000:]}"
    )


def transitions(firing: dict[str, list[bool]]) -> dict[str, list[tuple[int, bool]]]:
    return {
        pair: [(m, s[m]) for m in range(1, len(s)) if s[m] != s[m - 1]]
        for pair, s in firing.items()
    }
