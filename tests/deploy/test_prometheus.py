"""deploy/prometheus: the scrape config and sentinel's own alerts pass promtool, and
every alert is labelled, annotated and linked to its runbook section."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.promtool import DEPLOY, ROOT, run_promtool

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "sentinel-rules.yml"
RULE_TESTS = PROMETHEUS / "sentinel-rules.test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
EXPECTED_ALERTS = {
    "SentinelDown",
    "SentinelNotificationsFailing",
    "SentinelOutboxBacklog",
    "SentinelDeadLetters",
    "SentinelSchedulerLate",
    "SentinelConfigReloadFailed",
    "SentinelStoreWritesFailing",
    "SentinelWatchdogFailing",
}


def alerting_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"] if "alert" in rule]


def output(proc: Any) -> str:
    return f"{proc.stdout}\n{proc.stderr}"


def test_scrape_config_passes_promtool_check_config() -> None:
    """promtool check config accepts prometheus.yml and the rule file it loads."""
    proc = run_promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert proc.returncode == 0, output(proc)


def test_scrape_config_scrapes_sentinel_every_15s() -> None:
    """The `sentinel` job scrapes sentinel:9464 every 15s and loads sentinel-rules.yml."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["sentinel-rules.yml"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "sentinel"]
    assert job["scrape_interval"] == "15s"
    assert job["static_configs"] == [{"targets": ["sentinel:9464"]}]


def test_rules_pass_promtool_check_rules() -> None:
    """promtool check rules accepts sentinel-rules.yml (syntax, templates, no lint problem)."""
    proc = run_promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, output(proc)
    assert "WARNING" not in output(proc).upper(), output(proc)


def test_rule_unit_tests_pass() -> None:
    """promtool test rules: every alert fires when it should and stays quiet otherwise."""
    proc = run_promtool("test", "rules", str(RULE_TESTS))
    assert proc.returncode == 0, output(proc)


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    """Each alert appears in the promtool tests both with expected alerts and with none."""
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert tests["rule_files"] == [RULES.name]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert fired == EXPECTED_ALERTS
    assert quiet == EXPECTED_ALERTS


def test_the_expected_alerts_are_defined_with_severity_and_annotations() -> None:
    """Every alert has a severity label and summary, description and runbook_url annotations."""
    rules = alerting_rules()
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    assert len(rules) == len(EXPECTED_ALERTS)
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), rule["alert"]


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    anchors: set[str] = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip()
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_runbook_url_points_at_the_alert_section_of_operations_md(name: str) -> None:
    """The runbook_url of each alert ends in docs/operations.md#<alert> and that section exists."""
    (rule,) = [r for r in alerting_rules() if r["alert"] == name]
    url: str = rule["annotations"]["runbook_url"]
    page, _, anchor = url.partition("#")
    assert page.endswith("/docs/operations.md"), url
    assert anchor == name.lower()
    assert anchor in github_anchors(OPERATIONS.read_text(encoding="utf-8")), (
        f"docs/operations.md has no heading for #{anchor}"
    )


def test_github_anchors_follow_githubs_rules() -> None:
    """Headings become lower-case anchors with punctuation dropped and spaces as dashes."""
    text = "# Running sentinel\n```\n# not a heading\n```\n### SentinelDown\n## sentinel's own alerts (runbook)\n"
    assert github_anchors(text) == {
        "running-sentinel",
        "sentineldown",
        "sentinels-own-alerts-runbook",
    }
