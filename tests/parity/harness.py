"""Replaying promtool-style input series through sentinel's rule engine.

sentinel predicts which alerts fire at each evaluation time; the prediction is
written as a promtool unit test and `promtool test rules` checks it against
Prometheus's own engine. A case passes only when both agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import yaml

from sentinel.clock import FakeClock
from sentinel.config import parse_config
from sentinel.probes.results import Result, Sample
from sentinel.rules.engine import RuleEngine

START = datetime(2026, 1, 1, tzinfo=UTC)
_SERIES = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_EXPAND = re.compile(r"^(?P<a>-?\d+(?:\.\d+)?)(?:(?P<sign>[+-])(?P<b>\d+(?:\.\d+)?))?x(?P<n>\d+)$")


@dataclass
class Case:
    """One parity case: the same rule in PromQL and in sentinel's language."""

    name: str
    promql: str
    sentinel: str
    series: dict[str, str]
    eval_times: list[int]  # minutes
    for_: str = "0s"
    keep_firing_for: str = "0s"
    interval: int = 1  # minutes between input samples and between evaluations
    fires: bool = (
        True  # whether the case fires at some eval time (guards against vacuous agreement)
    )


def expand(values: str) -> list[float | None]:
    """promtool's series notation: ``1 2 _ 0+10x3 1x2 _x2`` -> numbers, None for missing."""
    out: list[float | None] = []
    for token in values.split():
        if token == "_":
            out.append(None)
        elif token.startswith("_x"):
            out.extend([None] * int(token[2:]))
        elif m := _EXPAND.match(token):
            a, n = float(m.group("a")), int(m.group("n"))
            b = float(m.group("b") or 0) * (-1 if m.group("sign") == "-" else 1)
            out.extend(a + b * i for i in range(n + 1))
        else:
            out.append(float(token))
    return out


def split_series(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    m = _SERIES.match(text)
    assert m, text
    labels = tuple(sorted(_LABEL.findall(m.group("labels") or "")))
    return m.group("name"), labels


async def sentinel_firing(case: Case) -> dict[int, list[dict[str, str]]]:
    """Replay the series through RuleEngine; the firing alerts' labels at each eval time."""
    config = parse_config(
        yaml.safe_dump(
            {
                "checks": [
                    {
                        "name": "parity",
                        "type": "tcp",
                        "target": "127.0.0.1:1",
                        "interval": "1m",
                        "timeout": "1s",
                    }
                ],
                "rules": [
                    {
                        "name": "Parity",
                        "match": {"check": "parity"},
                        "expr": case.sentinel,
                        "for": case.for_,
                        "keep_firing_for": case.keep_firing_for,
                        "on_no_data": "resolve",
                    }
                ],
            }
        ),
        f"{case.name}.yaml",
        {},
    )
    clock = FakeClock(start=START)
    engine = RuleEngine()
    engine.configure(config)
    inputs = {split_series(k): expand(v) for k, v in case.series.items()}
    steps = max(len(v) for v in inputs.values())
    last = max(case.eval_times)
    firing: dict[int, list[dict[str, str]]] = {}
    for step_index in range(last // case.interval + 1):
        minute = step_index * case.interval
        await clock.advance((START + timedelta(minutes=minute) - clock.now()).total_seconds())
        if step_index < steps:
            samples = tuple(
                Sample(name, value, labels)
                for (name, labels), values in inputs.items()
                if step_index < len(values) and (value := values[step_index]) is not None
            )
            engine.observe(
                Result("parity", "tcp", True, clock.now(), 0.0, None, samples), clock.now()
            )
        engine.tick(clock.now())
        if minute in case.eval_times:
            firing[minute] = sorted(
                (dict(i.labels) for i in engine.active() if i.state.state == "firing"),
                key=lambda d: sorted(d.items()),
            )
    return firing


def promtool_files(case: Case, firing: dict[int, list[dict[str, str]]]) -> tuple[str, str]:
    """The rule file and the unit test asserting sentinel's prediction."""
    rule: dict[str, object] = {"alert": "Parity", "expr": case.promql}
    if case.for_ != "0s":
        rule["for"] = case.for_
    if case.keep_firing_for != "0s":
        rule["keep_firing_for"] = case.keep_firing_for
    rules = yaml.safe_dump({"groups": [{"name": "parity", "rules": [rule]}]})
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": f"{case.interval}m",
        "tests": [
            {
                "interval": f"{case.interval}m",
                "input_series": [{"series": k, "values": v} for k, v in case.series.items()],
                "alert_rule_test": [
                    {
                        "eval_time": f"{minute}m",
                        "alertname": "Parity",
                        "exp_alerts": [{"exp_labels": labels} for labels in firing[minute]],
                    }
                    for minute in case.eval_times
                ],
            }
        ],
    }
    return rules, yaml.safe_dump(test)
