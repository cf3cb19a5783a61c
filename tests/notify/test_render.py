"""Rendering: subjects, runbook-shaped bodies, filters, and the user's template overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentinel.notify.base import DeliveryError, Folded, Notice
from sentinel.notify.render import Renderer, human_duration, utc_minute
from tests.notify.fakes import T0, alert, notice


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("firing", "[CRITICAL] ServiceDown production-api"),
        ("escalation", "[CRITICAL] ServiceDown production-api"),
        ("repeat", "[CRITICAL] ServiceDown production-api"),
        ("acknowledged", "[ACK] ServiceDown production-api"),
        ("resolved", "[RESOLVED] ServiceDown production-api"),
        ("flapping", "[FLAPPING] ServiceDown production-api"),
        ("digest", "[DIGEST] 2 alerts: 1 fired, 1 escalated, 1 resolved"),
        ("test", "[TEST] sentinel test notification"),
    ],
)
def test_subjects(kind: str, subject: str) -> None:
    """Each kind has its email subject: severity upper-case, rule, check."""
    assert Renderer().subject(notice(kind)) == subject


def test_subject_is_one_line() -> None:
    """A rule name with a newline cannot break the subject header."""
    assert Renderer().subject(notice(alert=alert(rule="Bad\nRule"))) == (
        "[CRITICAL] Bad Rule production-api"
    )


def test_alert_text_reads_like_a_runbook() -> None:
    """The firing text lists impact, check, value, since, runbook, on-call lead and ack link."""
    text = Renderer().text(notice())
    assert text.splitlines()[0] == "[CRITICAL] FIRING: ServiceDown on production-api"
    for line in (
        "Impact: production API is not answering",
        "Check: production-api",
        "Labels: env=prod, service=api",
        "Value: 0",
        "Reason: connection refused",
        "Since: 2026-01-05T09:00Z (1h 5m)",
        "Runbook: https://runbooks.example.com/service-down",
        "On-call lead: alice",
        "Acknowledge: https://sentinel.example.com/ack/a1b2c3?sig=x (ref a1b2c3)",
    ):
        assert line in text.splitlines()


def test_labels_line_leaves_out_what_has_a_line_of_its_own() -> None:
    """The alert's other labels, sorted, in text and HTML; alertname, check and severity
    have their own lines, and an alert with only those has no Labels line."""
    labels = {"alertname": "ServiceDown", "check": "api", "severity": "critical", "team": "sre"}
    r = Renderer()
    assert "Labels: team=sre" in r.text(notice(alert=alert(labels=labels)))
    assert '<th align="left">Labels</th><td>team=sre</td>' in r.html(
        notice(alert=alert(labels=labels))
    )
    del labels["team"]
    assert "Labels" not in r.text(notice(alert=alert(labels=labels)))


def test_update_and_resolved_texts() -> None:
    """Updates name who acknowledged or the step; resolved gives the duration."""
    r = Renderer()
    assert "acknowledged by bob" in r.text(notice("acknowledged"))
    assert "ESCALATED (step 3)" in r.text(notice("escalation", step=2))
    assert "STILL FIRING" in r.text(notice("repeat"))
    resolved = r.text(notice("resolved", text="restarted the pod"))
    assert "Duration: 1h 5m" in resolved
    assert "Resolution: restarted the pod" in resolved


def test_digest_says_which_alerts_fired_escalated_and_resolved() -> None:
    """A digest has a section per kind of event, one line per notice it folded."""
    text = Renderer().text(notice("digest")).splitlines()
    assert text[0] == "[DIGEST] 2 alerts: 1 fired, 1 escalated, 1 resolved"
    assert text[3:] == [
        "Fired (1):",
        "- [CRITICAL] ServiceDown on production-api: production API is not answering"
        " (connection refused), ref a1b2c3",
        "",
        "Escalated (1):",
        "- [HIGH] DiskFull on production-api (step 2): production API is not answering"
        " (connection refused), ref a1b2c3",
        "",
        "Resolved (1):",
        "- ServiceDown on production-api, after 1h 5m",
    ]
    html = Renderer().html(notice("digest"))
    for heading in ("Fired (1)", "Escalated (1)", "Resolved (1)"):
        assert f">{heading}</h3>" in html


def test_long_digest_text_lists_twenty_and_counts_the_rest() -> None:
    """Plain text (Slack, console, the webhook's message) lists 20 notices and says how
    many more; the email lists every one."""
    down = [alert(fingerprint=f"fp{i}", check=f"api-{i}") for i in range(50)]
    entries = tuple(Folded(kind="firing", at=T0, alert=a) for a in down)
    n = Notice(kind="digest", at=T0, alerts=tuple(down), entries=entries)
    lines = Renderer().text(n).splitlines()
    assert sum(1 for x in lines if x.startswith("- ")) == 20
    assert lines[-1] == "...and 30 more: see the status page or /api/v1/alerts"
    assert len("\n".join(lines)) < 3000  # one Slack section
    assert Renderer().html(n).count("<li>") == 50


def test_html_is_escaped_text_is_not() -> None:
    """HTML templates autoescape alert text; plain-text templates leave it alone."""
    n = notice(alert=alert(summary="<script>x</script> & co"))
    r = Renderer()
    assert "&lt;script&gt;" in r.html(n)
    assert "<script>" not in r.html(n)
    assert "<script>x</script> & co" in r.text(n)


def test_user_template_overrides_one_file(tmp_path: Path) -> None:
    """A file in the user's directory wins; the other templates still come from the package."""
    (tmp_path / "alert.txt.j2").write_text("PAGE {{ alert.rule }} for {{ firing_for | duration }}")
    r = Renderer(tmp_path)
    assert r.text(notice()) == "PAGE ServiceDown for 1h 5m"
    assert r.subject(notice()) == "[CRITICAL] ServiceDown production-api"


def test_undefined_name_fails_the_send(tmp_path: Path) -> None:
    """A template typo is a permanent "template" error, not a page with a hole."""
    (tmp_path / "subject.txt.j2").write_text("{{ alert.rulez }}")
    with pytest.raises(DeliveryError) as info:
        Renderer(tmp_path).subject(notice())
    assert (info.value.retry, info.value.reason) == (False, "template")


def test_syntax_error_fails_the_send(tmp_path: Path) -> None:
    """A template that does not parse is a permanent "template" error too."""
    (tmp_path / "test.txt.j2").write_text("{% if %}")
    with pytest.raises(DeliveryError) as info:
        Renderer(tmp_path).text(notice("test"))
    assert info.value.reason == "template"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (3600, "1h"),
        (3900, "1h 5m"),
        (90061, "1d 1h"),
        (None, "unknown"),
    ],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    """Durations read as the two largest units: 1h 5m."""
    assert human_duration(seconds) == text


def test_utc_minute() -> None:
    """Times are UTC ISO 8601 to the minute."""
    assert utc_minute(T0 + 59) == "2026-01-05T09:00Z"
    assert utc_minute(None) == "unknown"


def test_short_is_one_line() -> None:
    """The SMS head is one line."""
    assert Renderer().short(notice("resolved")) == "RESOLVED ServiceDown production-api after 1h 5m"


def test_digest_survives_json() -> None:
    """A digest as the webhook sends it reads back whole (entries included)."""
    digest = notice("digest")
    assert Notice.from_json(json.loads(json.dumps(digest.to_json()))) == digest
