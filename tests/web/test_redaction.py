"""What readers without the token see: incident events (new rows and rows written before
addresses moved to ``detail``), alert entries, and the redacted config."""

from __future__ import annotations

import json

from sentinel.config import parse_config
from sentinel.escalation.incidents import (
    Incident,
    IncidentEvent,
    event_view,
    shown_target,
    to_markdown,
)
from sentinel.web.views import alert_shown, redacted_config, redacted_url

NEW_NOTICE = IncidentEvent(
    1.0,
    "notified",
    "firing notice to alice via text",
    {"channel": "text", "target": "alice", "kind": "firing", "address": "+15550100001"},
)
OLD_NOTICE = IncidentEvent(  # as the journal wrote it before: the address in the text
    1.0,
    "notified",
    "firing notice to email:lead@example.com via mail (lead@example.com)",
    {"channel": "mail", "target": "email:lead@example.com", "kind": "firing"},
)
NEW_STEP = IncidentEvent(
    2.0,
    "escalated",
    "step 2: alice, email:(hidden)",
    {"kind": "escalation", "step": 1, "targets": ["alice", "email:lead@example.com"]},
)
OLD_STEP = IncidentEvent(2.0, "escalated", "step 2: oncall:primary, email:lead@example.com")


def test_targets_hide_addresses_but_not_names() -> None:
    assert shown_target("email:lead@example.com", False) == "email:(hidden)"
    assert shown_target("email:lead@example.com", True) == "email:lead@example.com"
    for name in ("alice", "slack-ops", "oncall:primary"):
        assert shown_target(name, False) == name


def test_notice_events_show_the_address_only_with_contacts() -> None:
    assert event_view(NEW_NOTICE, False) == {
        "at": "1970-01-01T00:00:01+00:00",
        "kind": "notified",
        "text": "firing notice to alice via text",
        "detail": {"channel": "text", "target": "alice", "kind": "firing"},
    }
    shown = event_view(NEW_NOTICE, True)
    assert shown["text"] == "firing notice to alice via text (+15550100001)"
    assert shown["detail"]["address"] == "+15550100001"


def test_old_rows_render_without_the_address_they_embed() -> None:
    anonymous = event_view(OLD_NOTICE, False)
    assert anonymous["text"] == "firing notice to email:(hidden) via mail"
    assert "lead@" not in json.dumps(anonymous)
    assert event_view(OLD_NOTICE, True)["text"] == OLD_NOTICE.text
    assert event_view(OLD_STEP, False)["text"] == "step 2: oncall:primary, email:(hidden)"
    assert event_view(OLD_STEP, True)["text"] == OLD_STEP.text


def test_step_events_and_the_markdown_export() -> None:
    assert event_view(NEW_STEP, False)["detail"]["targets"] == ["alice", "email:(hidden)"]
    assert event_view(NEW_STEP, True)["text"] == "step 2: alice, email:lead@example.com"
    incident = Incident("INC-19700101-000000-abcd", "abcd", "Down", "db", "critical", "t", 0.0)
    events = [NEW_NOTICE, OLD_NOTICE, NEW_STEP, OLD_STEP]
    public = to_markdown(incident, events)
    assert "@example.com" not in public
    assert "+1555" not in public
    full = to_markdown(incident, events, with_contacts=True)
    assert "lead@example.com" in full
    assert "+15550100001" in full
    assert "lead@" not in json.dumps(incident.to_json(events))


def test_alert_entries_hide_addressed_targets() -> None:
    entry = {"rule": "Down", "escalation": {"notified": ["alice", "email:lead@example.com"]}}
    assert alert_shown(entry, False)["escalation"]["notified"] == ["alice", "email:(hidden)"]
    assert alert_shown(entry, True) is entry
    assert alert_shown({"escalation": None}, False) == {"escalation": None}


def test_urls_lose_userinfo_query_values_and_fragment() -> None:
    r = "**********"
    assert redacted_url("https://u:p@h:8443/x?a=1&b&c=") == f"https://{r}@h:8443/x?a={r}&{r}&c={r}"
    assert redacted_url("http://[::1]:80/p#tok") == f"http://[::1]:80/p#{r}"
    assert redacted_url("https://h/plain") == "https://h/plain"
    assert redacted_url("not a url") == "not a url"
    assert redacted_url("http://[broken/") == r


def test_config_redacts_headers_and_every_value_from_the_environment() -> None:
    env = {"KEY": "k-from-env-123", "HOST": "db.internal.example", "PORT": "8443"}
    text = """
checks:
  - {name: api, type: http, url: "https://${HOST}:${PORT}/health",
     headers: {X-Api-Key: "${KEY}", Accept: text/plain}, labels: {zone: "${HOST}"}}
channels:
  hook: {type: webhook, url: "https://hooks.example.com/x", headers: {X-Static: literal}}
  console: {type: console}
"""
    body = redacted_config(parse_config(text, "test.yaml", env))
    dumped = json.dumps(body)
    assert "k-from-env-123" not in dumped
    assert "db.internal.example" not in dumped
    check = body["checks"][0]
    assert check["headers"] == {"X-Api-Key": "**********", "Accept": "**********"}
    assert check["url"] == "**********"
    assert check["labels"] == {"zone": "**********"}
    assert body["channels"]["hook"]["headers"] == {"X-Static": "**********"}
    assert body["channels"]["console"] == {"type": "console"}
