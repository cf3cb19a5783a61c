"""What the chat notifiers (Slack, Teams, Discord, Mattermost) say about an alert:
its header for the state it is in, its facts as (name, value) pairs, its colour
and its links. Pure functions; each provider lays them out in its own format.
"""

from __future__ import annotations

from sentinel.notify.base import AlertFacts, Notice
from sentinel.notify.render import human_duration, label_text, number, utc_minute

COLOUR = {
    "critical": "#d00000",
    "high": "#e67e00",
    "medium": "#f2c744",
    "low": "#439fe0",
    "resolved": "#2eb67d",
    "acknowledged": "#8a8a8a",
}
# Later notices of a firing: where the provider can edit, the first message shows them.
FOLLOW_UPS = frozenset({"acknowledged", "resolved", "escalation", "repeat"})


def colour(kind: str, alert: AlertFacts | None) -> str:
    """``#rrggbb`` for the notice: by severity, green resolved, grey acknowledged."""
    if kind in ("resolved", "acknowledged"):
        return COLOUR[kind]
    return COLOUR.get(alert.severity if alert else "low", COLOUR["low"])


def banner(notice: Notice, alert: AlertFacts) -> str:
    """The first message's header line, for the alert's current state."""
    what = f"{alert.rule} on {alert.check}"
    sev = alert.severity.upper()
    match notice.kind:
        case "acknowledged":
            return f"ACKNOWLEDGED by {notice.acked_by or 'someone'}: {what}"
        case "resolved":
            return f"RESOLVED after {human_duration(notice.duration)}: {what}"
        case "escalation":
            return f"[{sev}] ESCALATED (step {notice.step + 1}): {what}"
        case "repeat":
            return f"[{sev}] STILL FIRING: {what}"
        case "flapping":
            return f"[{sev}] FLAPPING: {what}"
        case _:
            return f"[{sev}] FIRING: {what}"


def facts(alert: AlertFacts) -> list[tuple[str, str]]:
    """The alert's facts, in the order a card lists them; empty ones left out."""
    pairs = [
        ("Severity", alert.severity.upper()),
        ("Check", alert.check),
        ("Value", number(alert.value)),
        ("Since", utc_minute(alert.since)),
    ]
    if alert.reason:
        pairs.append(("Reason", alert.reason))
    if labels := label_text(alert.labels):
        pairs.append(("Labels", labels))
    if alert.oncall:
        pairs.append(("On-call lead", alert.oncall))
    return pairs


def status_page(ack_url: str | None) -> str | None:
    """The status page (``{external_url}/``), read off the ack link (``{external_url}/ack/…``)."""
    if not ack_url or "/ack/" not in ack_url:
        return None
    return ack_url.rsplit("/ack/", 1)[0] + "/"


def links(notice: Notice, alert: AlertFacts) -> list[tuple[str, str]]:
    """(title, url): acknowledge (while there is something to acknowledge), the status
    page, the runbook."""
    out = []
    if alert.ack_url and notice.kind not in ("acknowledged", "resolved"):
        out.append(("Acknowledge", alert.ack_url))
    if page := status_page(alert.ack_url):
        out.append(("Status page", page))
    if alert.runbook:
        out.append(("Runbook", alert.runbook))
    return out


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with ``...`` when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."
