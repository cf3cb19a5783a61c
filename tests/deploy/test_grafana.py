"""The Grafana dashboard and sentinel's alert rules query only metrics sentinel exports.

The exported names and labels come from a real /metrics page: a Daemon started
in-process, with a passing check, a failing one whose rule fires at once, and
three channels: one that delivers (console), one whose receiver rejects every
notice (400: failed for good, channel broken) and one whose receiver is
unavailable (503: retried until notifications.max_age, then a dead letter).
A panel or rule that names a metric or label absent from that page fails here.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from sentinel.app.daemon import Daemon
from sentinel.clock import SystemClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor, configure
from tests.conftest import free_port
from tests.deploy.promtool import DEPLOY, run_promtool

DASHBOARD = DEPLOY / "grafana" / "sentinel-dashboard.json"
RULES = DEPLOY / "prometheus" / "sentinel-rules.yml"

# Series and labels Prometheus adds to every scrape of the `sentinel` job.
PROMETHEUS_SERIES = {"up": {"job", "instance"}, "scrape_duration_seconds": {"job", "instance"}}
TARGET_LABELS = {"job", "instance"}
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip
# What the dashboard must show (the brief of the deployment issue).
REQUIRED_METRICS = {
    "sentinel_check_up",
    "sentinel_check_duration_seconds_bucket",
    "sentinel_alerts",
    "sentinel_notifications_total",
    "sentinel_notification_latency_seconds_bucket",
    "sentinel_outbox_pending",
    "sentinel_notifications_dead_letters_total",
    "sentinel_channel_broken",
    "sentinel_scheduler_lateness_seconds_bucket",
    "sentinel_config_last_reload_successful",
}

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')
_SELECTOR = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}")
_LABEL_NAME = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
# An identifier that is neither part of a longer word, a number's exponent or unit,
# a Grafana $variable, nor a function call.
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.DOTALL)
_GRAFANA_VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    names = set(_NAME_MATCHER.findall(expr))
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names.update(n for n in _IDENT.findall(text) if n.lower() not in PROMQL_WORDS)
    return names


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched on it) for each selector with a metric name and matchers."""
    text = _STRING.sub('""', expr)
    return [
        (name, set(_LABEL_NAME.findall(body)))
        for name, body in _SELECTOR.findall(text)
        if name and name.lower() not in PROMQL_WORDS
    ]


@dataclass
class Exposition:
    """Every series name a scrape of sentinel yields, with the label names seen on it."""

    labels: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Exposition:
        out = cls()
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"),
            "info": ("_info",),
        }
        for family in text_string_to_metric_families(text):
            # A labelled family without children yet still declares its names.
            for suffix in suffixes.get(family.type, ("",)):
                out.labels.setdefault(family.name + suffix, set())
            for sample in family.samples:
                out.labels.setdefault(sample.name, set()).update(sample.labels)
        for name, labels in PROMETHEUS_SERIES.items():
            out.labels[name] = set(labels)
        for labels in out.labels.values():
            labels.update(TARGET_LABELS)
        return out


def problems(expressions: dict[str, str], exported: Exposition) -> list[str]:
    """Every metric or label an expression names that sentinel does not export."""
    found: list[str] = []
    for where, expr in expressions.items():
        names = metric_names(expr)
        if not names:
            found.append(f"{where}: names no metric: {expr}")
        for name in sorted(names - exported.labels.keys()):
            found.append(f"{where}: {name} is not exported by sentinel")
        for name, labels in selector_labels(expr):
            unknown = labels - exported.labels.get(name, labels)
            if unknown:
                found.append(f"{where}: {name} has no label {', '.join(sorted(unknown))}")
    return found


def dashboard_expressions(dashboard: dict[str, Any]) -> dict[str, str]:
    """Every PromQL expression of the dashboard: panel targets and query variables."""
    out: dict[str, str] = {}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            title = node.get("title", where)
            if isinstance(node.get("expr"), str):
                out[f"panel {title!r} target {node.get('refId', '?')}"] = node["expr"]
            for key, value in node.items():
                if key != "templating":
                    walk(value, title)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    walk(dashboard, "dashboard")
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(text)
        if match:
            out[f"variable ${variable['name']}"] = match.group(1)
    return out


def rule_expressions() -> dict[str, str]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {
        f"rule {rule.get('alert') or rule.get('record')}": rule["expr"]
        for group in data["groups"]
        for rule in group["rules"]
    }


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


# -- the real exposition ------------------------------------------------------


def config_text(state: Path, receiver: str, dead_port: int) -> str:
    return f"""
server: {{listen: "127.0.0.1:0"}}
storage: {{url: "sqlite:{state}"}}
checks:
  - {{name: api, type: http, url: "{receiver}/health", interval: 200ms, timeout: 200ms}}
  - name: dead
    type: tcp
    target: "127.0.0.1:{dead_port}"
    interval: 200ms
    timeout: 200ms
    labels: {{service: demo}}
rules:
  - {{name: ServiceDown, match: {{service: demo}}, expr: up == 0, severity: critical}}
channels:
  console: {{type: console}}
  rejecting: {{type: webhook, url: "{receiver}/reject"}}
  unavailable: {{type: webhook, url: "{receiver}/unavailable"}}
escalation:
  critical:
    - {{after: 0s, notify: [console, rejecting, unavailable]}}
notifications: {{retry_initial: 100ms, retry_max: 100ms, max_age: 300ms}}
"""


# What the page must show before it is taken as the reference: every stage has acted.
AWAITED = (
    ("sentinel_check_up", {"check": "api"}, 1.0),
    ("sentinel_check_up", {"check": "dead"}, 0.0),
    ("sentinel_alerts", {"state": "firing", "severity": "critical"}, 1.0),
    ("sentinel_notifications_total", {"channel": "console", "outcome": "sent"}, None),
    ("sentinel_notifications_total", {"channel": "rejecting", "outcome": "failed"}, None),
    ("sentinel_notifications_total", {"channel": "unavailable", "outcome": "retry"}, None),
    ("sentinel_notifications_total", {"channel": "unavailable", "outcome": "dead"}, None),
    ("sentinel_channel_broken", {"channel": "rejecting"}, 1.0),
    ("sentinel_notifications_dead_letters_total", {"channel": "unavailable"}, None),
    ("sentinel_notification_latency_seconds_count", {"type": "console"}, None),
)


def missing(text: str) -> list[str]:
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    return [
        f"{name}{labels}"
        for name, labels, value in AWAITED
        if not any(
            s.name == name
            and labels.items() <= s.labels.items()
            and (value is None or s.value == value)
            for s in samples
        )
    ]


async def scrape_a_busy_sentinel(tmp: Path) -> str:
    """Run a Daemon until every stage has exported something; return its /metrics page."""

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def reject(_: web.Request) -> web.Response:
        return web.Response(status=400, text="bad payload")

    async def unavailable(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/reject", reject)
    app.router.add_post("/unavailable", unavailable)
    receiver = web.AppRunner(app, access_log=None)
    await receiver.setup()
    await web.TCPSite(receiver, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{receiver.addresses[0][1]}"
    path = tmp / "sentinel.yaml"
    path.write_text(config_text(tmp / "state.db", url, free_port()))
    logs = io.StringIO()
    redactor = Redactor()
    configure("info", "json", redactor, logs)
    daemon = Daemon(load_config(path, {}), Settings(config=str(path)), SystemClock(), {}, redactor)
    await daemon.start()
    text, lacking = "", [name for name, _, _ in AWAITED]
    try:
        host, port = daemon.listening[0]
        async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
            for _ in range(300):
                async with http.get("/metrics") as resp:
                    text = await resp.text()
                lacking = missing(text)
                if not lacking:
                    break
                await asyncio.sleep(0.05)
    finally:
        await daemon.stop()
        await receiver.cleanup()
        structlog.reset_defaults()
    assert not lacking, f"sentinel never exported {lacking}; logs:\n{logs.getvalue()}"
    return text


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exposition:
    tmp = tmp_path_factory.mktemp("exposition")
    return Exposition.parse(asyncio.run(scrape_a_busy_sentinel(tmp)))


# -- the tests ----------------------------------------------------------------


def test_dashboard_queries_only_exported_metrics_and_labels(exported: Exposition) -> None:
    """Every dashboard expression names metrics and labels found on a real /metrics page."""
    expressions = dashboard_expressions(load_dashboard())
    assert len(expressions) >= 20
    assert problems(expressions, exported) == []


def test_alert_rules_query_only_exported_metrics_and_labels(exported: Exposition) -> None:
    """Every alert expression of sentinel-rules.yml names metrics and labels sentinel exports."""
    expressions = rule_expressions()
    assert len(expressions) == 8
    assert problems(expressions, exported) == []


def test_a_typo_in_a_new_panel_is_caught(exported: Exposition) -> None:
    """A panel added with a misspelt metric or label is reported, not silently empty."""
    dashboard = copy.deepcopy(load_dashboard())
    dashboard["panels"].append(
        {
            "type": "timeseries",
            "title": "Typo",
            "targets": [
                {"refId": "A", "expr": "sum(rate(sentinel_notification_total[5m]))"},
                {"refId": "B", "expr": 'sum(sentinel_outbox_pending{chanel="x"})'},
                {
                    "refId": "C",
                    "expr": "histogram_quantile(0.9, rate(sentinel_check_up_bucket[5m]))",
                },
            ],
        }
    )
    assert problems(dashboard_expressions(dashboard), exported) == [
        "panel 'Typo' target A: sentinel_notification_total is not exported by sentinel",
        "panel 'Typo' target B: sentinel_outbox_pending has no label chanel",
        "panel 'Typo' target C: sentinel_check_up_bucket is not exported by sentinel",
    ]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (channel, outcome) (rate(sentinel_notifications_total{instance=~"$instance"}[$__rate_interval]))',
            {"sentinel_notifications_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(sentinel_scheduler_lateness_seconds_bucket[5m]))) > 1",
            {"sentinel_scheduler_lateness_seconds_bucket"},
        ),
        (
            "x_total unless x_total offset 15m or on(job) group_left up == bool 1e3",
            {"x_total", "up"},
        ),
        (
            "time() - sentinel_config_last_reload_success_timestamp_seconds",
            {"sentinel_config_last_reload_success_timestamp_seconds"},
        ),
        ('{__name__="sentinel_alerts", state="firing"}', {"sentinel_alerts"}),
        ("count(a == 0) or vector(0)", {"a"}),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    """Names are found in selectors and skipped in functions, groupings, durations and strings."""
    assert metric_names(expr) == names


def test_the_dashboard_shows_what_operators_need() -> None:
    """Checks, alerts, notifications, outbox, dead letters, broken channels, lateness, reloads."""
    shown = set().union(*map(metric_names, dashboard_expressions(load_dashboard()).values()))
    assert sorted(REQUIRED_METRICS - shown) == []


def test_dashboard_structure() -> None:
    """Schema 39, unique panel ids, every panel on the DS_PROMETHEUS datasource variable."""
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == "sentinel"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel[
            "title"
        ]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def as_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced, for promtool to parse."""
    for name, value in (("$__rate_interval", "1m"), ("$__interval", "1m"), ("$__range", "1h")):
        expr = expr.replace(name, value)
    return _GRAFANA_VARIABLE.sub(".*", expr)


def test_dashboard_expressions_parse_as_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard expression (as recording rules) without error."""
    expressions = dashboard_expressions(load_dashboard())
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expression_{i}", "expr": as_promql(expr)}
                    for i, expr in enumerate(expressions.values())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = run_promtool("check", "rules", str(path))
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
