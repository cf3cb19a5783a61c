"""What the status page's template draws, precomputed as plain data: check rows and
service groups, alerts, incidents and their status updates, and the times and links
they show (pure functions; :mod:`sentinel.web.page` serves them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from sentinel.escalation.incidents import Incident, IncidentEvent
from sentinel.escalation.updates import latest_update, status_of
from sentinel.web.views import human

STATE_ORDER = {"down": 0, "pending": 1, "unsupported": 2, "up": 3}


@dataclass(frozen=True, slots=True)
class Place:
    """One place's view of a check probed from several (a location, or a member)."""

    place: str
    state: str  # up, down, unknown
    detail: str  # who ran it, when, and why it failed


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    type: str
    state: str
    reason: str
    last_run: str
    latency: str
    spark: Markup
    bars: Markup
    uptime: str
    places: tuple[Place, ...] = ()  # each location's view
    by: str = ""  # several replicas: the member whose result is shown, and its location


@dataclass(frozen=True, slots=True)
class Group:
    key: str  # the service label, "" for none
    title: str
    link: str
    counts: dict[str, int]
    rows: list[Row]
    open: bool


def group_checks(checks: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Checks by their ``service`` label, services in name order and the checks without
    one last; within a group the broken ones first, then by name."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in checks:
        groups.setdefault(str(c["labels"].get("service") or ""), []).append(c)
    for members in groups.values():
        members.sort(key=lambda c: (STATE_ORDER.get(c["state"], 9), c["name"]))
    return sorted(groups.items(), key=lambda kv: (kv[0] == "", kv[0]))


def counts_of(checks: Sequence[dict[str, Any]]) -> dict[str, int]:
    out = dict.fromkeys(STATE_ORDER, 0)
    for c in checks:
        out[c["state"]] = out.get(c["state"], 0) + 1
    return out


def when(iso: str | float | None, now: datetime) -> str:
    """``2026-01-05 09:00:00 UTC (5m ago)``; "-" for nothing."""
    if iso is None:
        return "-"
    at = (
        datetime.fromtimestamp(iso, UTC)
        if isinstance(iso, float | int)
        else datetime.fromisoformat(iso).astimezone(UTC)
    )
    delta = (now - at).total_seconds()
    rel = f"{human(delta)} ago" if delta >= 0 else f"in {human(-delta)}"
    return f"{at:%Y-%m-%d %H:%M:%S} UTC ({rel})"


def link(service: str | None, page: int = 1) -> str:
    query: dict[str, str | int] = {}
    if service is not None:
        query["service"] = service
    if page > 1:
        query["page"] = page
    return "/?" + urlencode(query) if query else "/"


def place_views(views: Sequence[dict[str, Any]], now: datetime) -> tuple[Place, ...]:
    """A check's views (``CheckEntry.locations``) as the page lists them."""
    out = []
    for v in views:
        parts = []
        if v.get("member"):
            parts.append(f"by {v['member']}")
        if v.get("last_run"):
            parts.append(when(v["last_run"], now))
        if v.get("unhealthy"):
            parts.append("location unhealthy: not counted")
        if v.get("error"):
            parts.append(str(v["error"]))
        out.append(Place(v["place"], v["state"], "; ".join(parts) or "no run yet"))
    return tuple(out)


def prober(check: dict[str, Any]) -> str:
    """``m-a (eu-west)``: who probed the result a check shows (several replicas only)."""
    by = check.get("probed_by")
    return f"{by['member']} ({by['location']})" if by else ""


def member_view(m: dict[str, Any]) -> dict[str, Any]:
    """One member (``Node.members``) as the page's members table shows it."""
    age = m.get("heartbeat_age_seconds")
    owned = m.get("owned_checks")
    return {
        "id": m["id"],
        "location": m["location"],
        "live": bool(m["live"]),
        "leader": bool(m.get("leader")),
        "here": bool(m.get("here")),
        "owned": "-" if owned is None else str(owned),
        "heartbeat": "-" if age is None else f"{human(age)} ago",
    }


def alert_view(a: dict[str, Any], now: datetime) -> dict[str, Any]:
    esc: dict[str, Any] | None = a.get("escalation")
    return {
        "id": a["fingerprint"],
        "rule": a["rule"],
        "check": a["check"],
        "state": a["state"],
        "severity": a["severity"],
        "since": when(a.get("fired_at") or a.get("active_since"), now),
        "suppressed": a.get("suppressed"),
        "flapping": bool(a.get("flapping")),
        "step": f"step {esc['step']} of {esc['steps']}" if esc else None,
        "notified": ", ".join(esc["notified"]) if esc else "",
        "acked_by": esc.get("acknowledged_by") if esc else None,
        "ackable": esc is not None and not esc.get("acknowledged_by"),
    }


def incident_view(
    i: Incident, now: datetime, events: Sequence[IncidentEvent] | None = None
) -> dict[str, Any]:
    """``events`` (an open incident's timeline) add its status, latest update and the
    earlier ones (``history``, newest first)."""
    latest = latest_update(events) if events is not None else None
    earlier = sorted(
        (e for e in events or () if e.kind == "update" and e is not latest),
        key=lambda e: e.at,
        reverse=True,
    )
    return {
        "id": i.id,
        "severity": i.severity,
        "title": i.title,
        "started": when(i.started_at, now),
        "duration": "ongoing" if i.duration is None else human(i.duration),
        "acked_by": i.acked_by,
        "status": status_of(i, events or ()),
        "latest": None if latest is None else _update_view(latest, now),
        "history": [_update_view(e, now) for e in earlier],
    }


def _update_view(e: IncidentEvent, now: datetime) -> dict[str, Any]:
    return {
        "status": e.detail.get("status", ""),
        "text": e.detail.get("text", ""),
        "by": e.detail.get("by", ""),
        "when": when(e.at, now),
    }
