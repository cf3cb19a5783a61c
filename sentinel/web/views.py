"""Read-side views over the daemon's state for the status page, the API and reports.

Plain functions of what they are given (config, store, clock readings); the
daemon passes its parts in. Nothing here changes state.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import accumulate
from operator import sub
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
from sentinel.rules.slo import (
    MINUTE_SPAN,
    Counters,
    SloStatus,
    budget_window,
    exhaustion,
    window_name,
)
from sentinel.rules.slo_engine import SloEngine
from sentinel.sources.book import External
from sentinel.store.protocols import UptimeStore

DAY = 86400
SLOS_SHOWN = 100  # SLOs drawn on the status page; beyond that, the ones with least budget
BURN_DOWN_POINTS = 120  # points of a burn-down line (30 days: one every 6 hours)
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


# -- SLOs on the status page ---------------------------------------------------------


def window_counts(
    counters: Counters, now: float, window: float
) -> tuple[float, int, list[int], list[int]]:
    """The buckets an SLO's budget is computed from at ``now`` (as
    :func:`sentinel.rules.slo.status` sums them): the start of the first, the bucket
    seconds, and the good and total counts, oldest first, the current partial bucket
    last. Slices of the ring (C speed): a page draws up to a hundred of them."""
    ring = counters.minutes if window <= MINUTE_SPAN else counters.hours
    last = int(now // ring.step)
    count = min(ring.size, max(1, math.ceil(window / ring.step)))
    first = last - count + 1
    good, total = [0] * count, [0] * count
    if ring.head is not None:
        lo, hi = max(first, ring.head - ring.size + 1), min(last, ring.head)
        if lo <= hi:
            a, b = lo % ring.size, hi % ring.size
            if a <= b:
                g, t = ring.good[a : b + 1], ring.total[a : b + 1]
            else:
                g, t = ring.good[a:] + ring.good[: b + 1], ring.total[a:] + ring.total[: b + 1]
            good[lo - first : hi - first + 1] = g.tolist()
            total[lo - first : hi - first + 1] = t.tolist()
    return float(first * ring.step), ring.step, good, total


def _bad(good: Sequence[int], total: Sequence[int]) -> list[int]:
    return list(map(sub, total, good))


def _first_run(total: Sequence[int]) -> int:
    """The index of the first bucket with runs (len when none has)."""
    return next((i for i, runs in enumerate(total) if runs), len(total))


def burn_down(good: Sequence[int], total: Sequence[int], ratio: float) -> list[float | None]:
    """The error budget of the current window as it was spent, bucket by bucket: after
    each bucket, 1 - (bad runs so far) / (bad runs the window's budget allows), so the
    line starts at 1 (100%) and ends at the budget left now. None before the first run."""
    runs = sum(total)
    if runs == 0:
        return [None] * len(total)
    allowed = (1.0 - ratio) * runs
    first = _first_run(total)
    spent = list(accumulate(_bad(good[first:], total[first:])))
    return [None] * first + [1.0 - b / allowed for b in spent]


def thinned(points: Sequence[float | None], most: int) -> list[float | None]:
    """At most ``most`` of ``points``, evenly spaced, always keeping the last."""
    if len(points) <= most:
        return list(points)
    return list(map(points.__getitem__, _spread(len(points), most)))


@functools.lru_cache(maxsize=16)
def _spread(length: int, most: int) -> tuple[int, ...]:
    step = (length - 1) / (most - 1)
    return tuple(round(i * step) for i in range(most))


def human(seconds: float) -> str:
    """A duration for people: ``30s``, ``45m``, ``1d 1h 1m``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    d, s = divmod(s, DAY)
    h, s = divmod(s, 3600)
    m = s // 60
    return " ".join(p for p in (f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m") if p)


def _at(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M} UTC"


def share(value: float) -> str:
    """A budget share for people: ``73.2%``, ``-250.0%``."""
    return f"{value * 100:.1f}%"


def burn_down_text(
    good: Sequence[int], total: Sequence[int], ratio: float, start: float, step: int, window: str
) -> str:
    """The burn-down line in words (its text alternative): where it starts and ends and
    the hour (or minute) that spent the most."""
    runs = sum(total)
    if runs == 0:
        return f"error budget over the last {window}: no runs yet"
    allowed = (1.0 - ratio) * runs
    bad = _bad(good, total)
    left = 1.0 - sum(bad) / allowed
    first = _first_run(total)
    text = (
        f"error budget over the last {window}: from 100% at {_at(start + first * step)}"
        f" to {share(left)} now"
    )
    worst = max(bad)
    if worst > 0:
        unit = "hour" if step >= 3600 else "minute"
        at = start + bad.index(worst) * step
        text += f"; the {unit} from {_at(at)} spent the most ({share(worst / allowed)})"
    return text


def slo_panel(
    engine: SloEngine, statuses: Sequence[SloStatus], now: datetime, most: int = SLOS_SHOWN
) -> tuple[list[dict[str, Any]], int]:
    """The SLOs the status page draws (config order; beyond ``most``, those with the
    least budget left per ``statuses``), and how many were left out. Attainment, budget
    and burn-down come from the counters at ``now`` (the same buckets, so the line ends
    at the figure); the 1h burn rate and the pairs that hold from ``statuses`` (the SLO
    keeper's, at most a minute old)."""
    known = {s.name: s for s in statuses}
    slos = engine.slos
    if len(slos) > most:

        def order(name: str) -> tuple[bool, float, str]:
            st = known.get(name)
            left = None if st is None else st.budget_remaining
            return (left is None, 0.0 if left is None else left, name)

        slos = sorted(slos, key=lambda s: order(s.name))[:most]
    at = now.timestamp()
    rows = []
    for slo in slos:
        counters = engine.counters(slo.name)
        if counters is None:
            continue
        # A calendar month's budget counts from the 1st; a rolling window's, its length.
        since, length = budget_window(slo, at)
        start, step, good, total = window_counts(counters, at, at - since)
        runs, ok = sum(total), sum(good)
        attainment = ok / runs if runs else None
        left = None if attainment is None else 1.0 - (1.0 - attainment) / (1.0 - slo.ratio)
        st = known.get(slo.name)
        burn = None if st is None else st.burn.get("1h")
        window = window_name(slo.window)
        rows.append(
            {
                "name": slo.name,
                "description": slo.description,
                "indicator": slo.indicator,
                "threshold": slo.threshold,
                "objective": slo.ratio,
                "window": window,
                "good": ok,
                "total": runs,
                "attainment": attainment,
                "budget_remaining": left,
                "burn_1h": burn,
                "exhaustion": exhaustion(left, burn, length),
                "firing": [] if st is None else list(st.firing),
                "burn_down": thinned(burn_down(good, total, slo.ratio), BURN_DOWN_POINTS),
                "burn_down_text": burn_down_text(good, total, slo.ratio, start, step, window),
            }
        )
    return rows, len(engine.slos) - len(rows)
