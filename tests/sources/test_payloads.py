"""The senders' payloads, from their documentation, become one Inbound per alert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentinel.sources import alertmanager, events, grafana
from sentinel.sources.inbound import Malformed, label_key, parse_time

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_alertmanager_group_is_one_inbound_per_alert_with_its_text() -> None:
    """Each alert keeps its fingerprint, labels, annotations, link and times; the newer
    fields (notification_reason, routeLabels) are ignored."""
    first, second = alertmanager.parse(fixture("alertmanager_firing.json"))
    assert (first.key, second.key) == ("a1b2c3d4e5f60718", "b2c3d4e5f6071829")
    assert first.status == "firing"
    assert dict(first.labels)["instance"] == "api-1:8080"
    assert first.summary == "High error rate on api"
    assert first.description == "5xx ratio is 12% on api-1:8080"
    assert first.runbook == "https://runbooks.example.com/HighErrorRate"
    assert first.link is not None
    assert first.link.startswith("http://prometheus.example.com")
    assert first.starts_at == pytest.approx(1_767_603_600.123456)
    assert first.ends_at is None  # Go's zero time


def test_alertmanager_resolved_carries_its_end() -> None:
    (alert,) = alertmanager.parse(fixture("alertmanager_resolved.json"))
    assert alert.status == "resolved"
    assert alert.ends_at == 1_767_604_200.0


def test_alerts_without_fingerprint_are_keyed_by_their_labels_never_their_summary() -> None:
    """Two alerts that share a summary are two alerts (GoAlert #4461)."""
    one, two = alertmanager.parse(fixture("alertmanager_no_fingerprint.json"))
    assert one.summary == two.summary
    assert one.key != two.key
    assert one.key == label_key(one.labels)


def test_grafana_payload_links_to_the_panel_when_it_has_one() -> None:
    memory, cpu = grafana.parse(fixture("grafana_firing.json"))
    assert memory.key == "c6eadffa33fcdf37"
    assert memory.link == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert cpu.link == "https://play.grafana.org/d/monitoring?viewPanel=2"
    assert memory.summary == "This alert was triggered for zone us-1"
    assert memory.runbook == "https://myrunbook.com/runbook/1234"
    assert memory.starts_at == pytest.approx(1_634_025_063.157076)
    (resolved,) = grafana.parse(fixture("grafana_resolved.json"))
    assert resolved.status == "resolved"
    assert resolved.ends_at is not None


@pytest.mark.parametrize(
    ("parse", "name", "where"),
    [
        (alertmanager.parse, "alertmanager_malformed.json", "alerts.0.labels.a"),
        (alertmanager.parse, "alertmanager_truncated.json", "body"),
        (grafana.parse, "grafana_malformed.json", "alerts.0.status"),
    ],
)
def test_malformed_payloads_say_where(parse: object, name: str, where: str) -> None:
    with pytest.raises(Malformed, match=rf"^{where}"):
        parse(fixture(name))  # type: ignore[operator]


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"null", b'{"status": "firing"}', b'{"status": "firing", "alerts": {}}', b"\xff"],
)
def test_not_a_webhook_is_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        alertmanager.parse(body)


def test_a_bad_time_is_malformed_not_a_crash() -> None:
    body = json.loads(fixture("alertmanager_firing.json"))
    body["alerts"][0]["startsAt"] = "yesterday"
    with pytest.raises(Malformed, match=r"alerts\.0\.startsAt"):
        alertmanager.parse(json.dumps(body).encode())
    assert parse_time("2026-01-05T09:00:00.5+01:00", "x") == 1_767_600_000.5


def test_events_trigger_from_pagerduty_docs() -> None:
    parsed = events.parse(fixture("events_trigger.json"))
    assert parsed.routing_key == "samplekeyhere"
    alert = parsed.inbound
    assert (alert.key, alert.status) == ("samplekeyhere", "firing")
    labels = dict(alert.labels)
    assert labels["severity"] == "critical"
    assert labels["source"] == "prod-datapipe03.example.com"
    assert labels["alertname"] == "disk"
    assert alert.summary.startswith("DISK at 99%")
    assert '"free space": "1%"' in alert.description
    assert alert.link == "https://example.com/"


def test_events_trigger_without_dedup_key_gets_a_new_one() -> None:
    body = json.loads(fixture("events_trigger.json"))
    del body["dedup_key"]
    parsed = events.parse(json.dumps(body).encode(), new_key=lambda: "k-new")
    assert parsed.inbound.key == "k-new"
    assert dict(parsed.inbound.labels)["dedup_key"] == "k-new"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"routing_key": "k", "event_action": "trigger"}, "'payload' is required"),
        ({"routing_key": "k", "event_action": "resolve"}, "'dedup_key' is required"),
        ({"routing_key": "k", "event_action": "explode", "dedup_key": "x"}, "'event_action'"),
        ({"event_action": "resolve", "dedup_key": "x"}, "'routing_key'"),
        (
            {
                "routing_key": "k",
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "h", "severity": "fatal"},
            },
            "'payload.severity'",
        ),
    ],
)
def test_invalid_events_say_what_is_wrong(body: dict[str, object], reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        events.parse(json.dumps(body).encode())


def test_events_answers_have_pagerdutys_shape() -> None:
    assert events.accepted("k") == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "k",
    }
    assert events.invalid("x") == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["x"],
    }
