"""Read-side views over the daemon's state for the status page, the API and reports.

Plain functions of what they are given (config, store, clock readings); the
daemon passes its parts in. Nothing here changes state. The SLO section's figures
(budget, burn-down) are in :mod:`sentinel.web.slo_views`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from sentinel.clock import iso
from sentinel.config.checks import Check
from sentinel.config.loader import env_values, secret_values
from sentinel.config.models import Config
from sentinel.escalation.incidents import shown_target
from sentinel.escalation.oncall import handoffs, on_call
from sentinel.escalation.policy import Progress
from sentinel.probes.results import Result, sample_key
from sentinel.routing.quiet import window_times
from sentinel.rules.engine import Instance
from sentinel.sources.external import External
from sentinel.store.protocols import UptimeStore

DAY = 86400
REDACTED = "**********"


async def uptime_bars(
    store: UptimeStore, now: datetime, days: int = 90, checks: list[str] | None = None
) -> dict[str, list[float | None]]:
    """Per check, the share of passing runs on each of the last ``days`` UTC days,
    oldest first; None for a day without runs."""
    today = int(now.timestamp() // DAY)
    first = today - days + 1
    rows = await store.uptime_days(first, checks)
    out: dict[str, list[float | None]] = {}
    for check, found in rows.items():
        bars: list[float | None] = [None] * days
        for day, ok, total, _ in found:
            if total and first <= day <= today:
                bars[day - first] = ok / total
        out[check] = bars
    return out


def maintenance_view(config: Config, now: datetime) -> list[dict[str, Any]]:
    """Each window: in force now or next, with its start and end."""
    out = []
    for w in config.maintenance:
        times = window_times(w, now)
        if times is None:
            continue
        start, end = times
        out.append(
            {
                "name": w.name,
                "match": w.match,
                "active": start <= now < end,
                "starts_at": start.isoformat(),
                "ends_at": end.isoformat(),
            }
        )
    return out


def oncall_view(config: Config, now: datetime) -> list[dict[str, Any]]:
    """Who is on call on each schedule, and the next handoffs."""
    return [
        {
            "schedule": name,
            "on_call": on_call(rotation, now),
            "timezone": rotation.timezone,
            "next_handoffs": [
                {"at": h.at.isoformat(), "who": h.who, "reason": h.reason}
                for h in handoffs(rotation, now, 3)
            ],
        }
        for name, rotation in config.oncall.items()
    ]


def redacted_config(config: Config) -> dict[str, Any]:
    """The running config as JSON, every secret replaced by ``REDACTED``: secret fields,
    every request header value, a URL's userinfo and query values, every string that
    came from the environment (``${VAR}``) and any string equal to a secret."""
    hidden = secret_values(config) | env_values(config)

    def scrub(value: Any, key: str | None = None) -> Any:
        if isinstance(value, SecretStr):
            return REDACTED if value.get_secret_value() else ""
        if isinstance(value, dict):
            if key == "headers":
                return {k: REDACTED for k in value}
            return {k: scrub(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [scrub(v) for v in value]
        if isinstance(value, str):
            return REDACTED if value in hidden else redacted_url(value)
        return value

    scrubbed: dict[str, Any] = _jsonable(scrub(config.model_dump(by_alias=True)))
    return scrubbed


def redacted_url(text: str) -> str:
    """A URL without its userinfo and query values (``https://**********@h/p?k=**********``);
    any other text as it is."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return REDACTED
    if "@" in parts.netloc:
        host = f"[{host}]" if ":" in host else host
        parts = parts._replace(netloc=f"{REDACTED}@{host}{port}")
    if parts.query:
        query = "&".join(
            f"{name}={REDACTED}" if sep else REDACTED
            for name, sep, _ in (pair.partition("=") for pair in parts.query.split("&"))
        )
        parts = parts._replace(query=query)
    if parts.fragment:
        parts = parts._replace(fragment=REDACTED)
    return urlunsplit(parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def check_entry(check: Check, result: Result | None, unsupported: bool) -> dict[str, Any]:
    """One check as the status API and page show it: :class:`sentinel.web.models.CheckEntry`
    (a plain dict, since the status holds every check; the model costs 3x per check)."""
    if unsupported:
        state = "unsupported"
    elif result is None:
        state = "pending"
    else:
        state = "up" if result.ok else "down"
    entry: dict[str, Any] = {
        "name": check.name,
        "type": check.type,
        "labels": check.labels,
        "interval_seconds": check.interval,
        "state": state,
    }
    if result is not None:
        entry.update(
            last_run=result.started_at.isoformat(),
            duration_seconds=round(result.duration, 6),
            error=result.error,
            samples={sample_key(s.name, s.labels): s.value for s in result.samples},
        )
    return entry


def alert_entry(
    inst: Instance,
    labels: dict[str, str],
    severity: str,
    suppressed: str | None,
    flapping: bool,
    progress: Progress | None,
) -> dict[str, Any]:
    """One pending or firing alert (:class:`sentinel.web.models.Alert`), with its
    escalation when one runs. ``labels`` are the alert's as notifications and silences
    see them (check's, rule's, its own)."""
    escalation = None
    if progress is not None:
        escalation = {
            "policy": progress.policy.name,
            "step": progress.next_step,
            "steps": len(progress.policy.steps),
            "repeats": progress.repeats,
            "notified": list(progress.notified),
            "paused": progress.paused,
            "acknowledged_by": progress.acked_by,
            "acknowledged_at": iso(progress.acked_at),
        }
    return {
        "rule": inst.rule,
        "check": inst.check,
        "labels": dict(labels),
        "state": inst.state.state,
        "severity": severity,
        "value": inst.value,
        "active_since": iso(inst.state.active_since),
        "fired_at": iso(inst.state.fired_at),
        "fingerprint": inst.fingerprint,
        "suppressed": suppressed,
        "flapping": flapping,
        "escalation": escalation,
        **({"source": inst.source} if isinstance(inst, External) else {}),
    }


def alert_shown(entry: dict[str, Any], with_contacts: bool) -> dict[str, Any]:
    """An :func:`alert_entry` as a reader may see it: without the token, the targets
    told so far name contacts and channels but no address (``email:(hidden)``)."""
    escalation = entry.get("escalation")
    if with_contacts or not escalation:
        return entry
    notified = [shown_target(t, False) for t in escalation["notified"]]
    return {**entry, "escalation": {**escalation, "notified": notified}}


def contacts_shown(status: dict[str, Any], with_contacts: bool) -> dict[str, Any]:
    """The daemon's status as a reader may see it (see :func:`alert_shown`)."""
    if with_contacts:
        return status
    return {**status, "alerts": [alert_shown(a, False) for a in status["alerts"]]}


def human(seconds: float) -> str:
    """A duration for people: ``30s``, ``45m``, ``1d 1h 1m``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    d, s = divmod(s, DAY)
    h, s = divmod(s, 3600)
    m = s // 60
    return " ".join(p for p in (f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m") if p)
