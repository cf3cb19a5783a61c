"""Reports: uptime, latency, incidents and notifications over a period, for people.

:func:`build_report` only gathers data from the store; every figure is computed
by the pure functions below, from plain values, so each is table-tested. The
report is a JSON-safe dict (see docs/reports.md for its shape) that
:func:`render_report` prints as an aligned table, Markdown or JSON, and that
:func:`summary_text` squeezes into the few lines a scheduled notice carries.

How the figures are computed:

- **Uptime** comes from the daily rollups (``uptime_daily``): ok runs / all runs
  over every *whole UTC day* that overlaps the period, so a 1d report ending at
  17:00 counts yesterday and today in full. The overall figure is the mean of
  the checks' uptimes (each check counts once, whatever its interval).
- **Average latency** is the rollups' duration sum / runs, over the same days.
- **p95 latency** is the nearest-rank 95th percentile of the run durations in
  the period itself. Up to :data:`P95_SPAN` (7 days) every run is read; longer
  periods are sampled with :data:`P95_SLICES` windows spread over the period
  (7 days of runs in all), and at most :data:`P95_MAX_ROWS` durations are used.
- **Incidents** are those that *started* in the period. MTTA is the mean of
  (acknowledged - started) over the acknowledged ones, MTTR the mean of
  (resolved - started) over the resolved ones; open ones count in neither.
- **Notifications** are the outbox rows created in the period, per channel:
  sent (``merged`` into a digest counts as sent), failed, dead, pending
  (``held`` counts as pending).
- **SLOs**: per SLO of the config, good runs / all runs over the period (to the
  minute, from the SLO engine's per-minute counters, ``slo_minutes``), against its
  objective: met or not, and the share of the period's error budget left
  (1 - bad share / (1 - objective)); per UTC day, week and month as for uptime.
  The counters are kept for the SLO's longest window plus an hour, so a longer
  period shows what is kept (``first_day``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Literal

from sentinel.clock import iso
from sentinel.config import format_duration
from sentinel.escalation.incidents import Incident

DAY = 86400
P95_SPAN = 7 * DAY  # runs read at most, per check, for the p95
P95_SLICES = 24  # windows a longer period is sampled with
P95_MAX_ROWS = 200_000  # durations kept at most, per check (evenly thinned)
INCIDENT_PAGE = 500
SEVERITIES = ("critical", "high", "medium", "low")
OUTCOMES = ("sent", "failed", "dead", "pending")
_OUTCOME_OF_STATE = {"merged": "sent", "held": "pending"}
_GOLDEN = (math.sqrt(5) - 1) / 2  # spreads sample windows over the times of day
WORST = 5

DayRow = tuple[int, int, int, float]  # (day since the epoch, ok runs, all runs, duration sum)
SloDayRow = tuple[int, int, int]  # (day since the epoch, good runs, all runs)


# -- pure computations ---------------------------------------------------------


def day_range(start: float, end: float) -> tuple[int, int]:
    """First and last UTC day (days since the epoch) that overlap ``[start, end)``."""
    first = math.floor(start / DAY)
    last = math.ceil(end / DAY) - 1
    return first, max(first, last)


def day_label(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _week_label(day: int) -> str:
    year, week, _ = (date(1970, 1, 1) + timedelta(days=day)).isocalendar()
    return f"{year}-W{week:02d}"


def _month_label(day: int) -> str:
    return day_label(day)[:7]


def percent(ok: int, total: int) -> float | None:
    """``ok`` of ``total`` as a percentage; None when nothing ran."""
    return None if total <= 0 else round(100.0 * ok / total, 4)


def uptime_stats(rows: Iterable[DayRow]) -> dict[str, Any]:
    """Runs, ok runs, uptime % and average latency over some daily rollup rows."""
    ok = total = 0
    dsum = 0.0
    for _, day_ok, day_total, day_dsum in rows:
        ok += day_ok
        total += day_total
        dsum += day_dsum
    return {
        "runs": total,
        "ok": ok,
        "failed": total - ok,
        "uptime_percent": percent(ok, total),
        "avg_latency_seconds": None if total <= 0 else round(dsum / total, 6),
    }


def uptime_by(
    rows: Iterable[DayRow], unit: Literal["day", "week", "month"]
) -> list[dict[str, Any]]:
    """Uptime per UTC day, ISO week (``2026-W02``) or month (``2026-01``), oldest first."""
    label = {"day": day_label, "week": _week_label, "month": _month_label}[unit]
    groups: dict[str, list[DayRow]] = {}
    for row in sorted(rows):
        groups.setdefault(label(row[0]), []).append(row)
    out = []
    for name, group in groups.items():
        stats = uptime_stats(group)
        out.append({"label": name, **{k: stats[k] for k in ("runs", "ok", "uptime_percent")}})
    return out


def slo_figures(objective: float, good: int, total: int) -> dict[str, Any]:
    """Attainment of good/total against ``objective`` (a ratio such as 0.999)."""
    if total <= 0:
        return {"attainment_percent": None, "met": None, "error_budget_remaining": None}
    bad_share = (total - good) / total
    return {
        "attainment_percent": percent(good, total),
        "met": good / total >= objective,
        "error_budget_remaining": round(1.0 - bad_share / (1.0 - objective), 4),
    }


def slo_by(
    rows: Iterable[SloDayRow], objective: float, unit: Literal["day", "week", "month"]
) -> list[dict[str, Any]]:
    """SLO attainment per UTC day, ISO week or month, oldest first."""
    label = {"day": day_label, "week": _week_label, "month": _month_label}[unit]
    groups: dict[str, list[int]] = {}
    for day, good, total in sorted(rows):
        sums = groups.setdefault(label(day), [0, 0])
        sums[0] += good
        sums[1] += total
    return [
        {"label": name, "runs": total, "good": good, **slo_figures(objective, good, total)}
        for name, (good, total) in groups.items()
    ]


def slo_report(
    name: str, objective: float, rows: Sequence[SloDayRow], seconds: float
) -> dict[str, Any]:
    """One SLO over the report's period: attainment against the objective, and per unit."""
    good = sum(r[1] for r in rows)
    total = sum(r[2] for r in rows)
    measured = sorted(r[0] for r in rows if r[2] > 0)
    out: dict[str, Any] = {
        "name": name,
        "objective_percent": round(objective * 100, 4),
        "runs": total,
        "good": good,
        "bad": total - good,
        **slo_figures(objective, good, total),
        "first_day": day_label(measured[0]) if measured else None,
        "daily": slo_by(rows, objective, "day"),
    }
    if seconds >= 7 * DAY:
        out["weekly"] = slo_by(rows, objective, "week")
    if seconds >= 28 * DAY:
        out["monthly"] = slo_by(rows, objective, "month")
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100): the smallest value with at least
    ``q``% of the values at or below it; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def sample_windows(
    start: float, end: float, span: float = P95_SPAN, slices: int = P95_SLICES
) -> list[tuple[float, float]]:
    """The windows whose runs feed the p95: the whole period when it is at most
    ``span`` long, else ``slices`` windows of ``span / slices`` each, one in each
    equal part of the period, placed at varied times of day."""
    if end - start <= span:
        return [(start, end)]
    step = (end - start) / slices
    width = span / slices
    windows = []
    for i in range(slices):
        offset = ((i * _GOLDEN) % 1.0) * (step - width)
        a = start + i * step + offset
        windows.append((a, a + width))
    return windows


def thin(values: Sequence[float], cap: int) -> list[float]:
    """At most ``cap`` of ``values``, evenly spread (every k-th)."""
    if len(values) <= cap:
        return list(values)
    stride = len(values) / cap
    return [values[int(i * stride)] for i in range(cap)]


def _mean(values: Sequence[float]) -> float | None:
    return None if not values else round(sum(values) / len(values), 3)


def _severity_order(severity: str) -> tuple[int, str]:
    return (SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES), severity)


def incident_stats(incidents: Sequence[Incident]) -> dict[str, Any]:
    """Counts by severity, MTTA over the acknowledged, MTTR over the resolved, and the list."""
    by_severity: dict[str, int] = {}
    for i in incidents:
        by_severity[i.severity] = by_severity.get(i.severity, 0) + 1
    acks = [t for i in incidents if (t := i.time_to_ack) is not None]
    fixes = [d for i in incidents if (d := i.duration) is not None]
    return {
        "total": len(incidents),
        "by_severity": {s: by_severity[s] for s in sorted(by_severity, key=_severity_order)},
        "acknowledged": len(acks),
        "resolved": len(fixes),
        "mtta_seconds": _mean(acks),
        "mttr_seconds": _mean(fixes),
        "list": [
            {
                "id": i.id,
                "severity": i.severity,
                "title": i.title,
                "check": i.check,
                "started": iso(i.started_at),
                "acknowledged_after_seconds": i.time_to_ack,
                "duration_seconds": i.duration,
            }
            for i in sorted(incidents, key=lambda i: (i.started_at, i.id))
        ],
    }


def notification_table(counts: Mapping[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """{(channel, outbox state): n} as {channel: {sent, failed, dead, pending}}."""
    out: dict[str, dict[str, int]] = {}
    for (channel, state), n in sorted(counts.items()):
        row = out.setdefault(channel, dict.fromkeys(OUTCOMES, 0))
        outcome = _OUTCOME_OF_STATE.get(state, state)
        if outcome in row:
            row[outcome] += n
    return out


def compose_report(
    *,
    start: float,
    end: float,
    checks: Sequence[str],
    rollups: Mapping[str, Sequence[DayRow]],
    latencies: Mapping[str, Sequence[float]],
    sampled: bool,
    incidents: Sequence[Incident],
    notifications: Mapping[tuple[str, str], int],
    generated_at: float | None = None,
    slos: Sequence[tuple[str, float]] = (),
    slo_days: Mapping[str, Sequence[SloDayRow]] | None = None,
) -> dict[str, Any]:
    """The report from plain data; ``rollups`` may hold days outside the period (ignored).
    ``slos`` are (name, objective ratio) and ``slo_days`` their days in the period."""
    first, last = day_range(start, end)
    seconds = end - start
    rows: list[dict[str, Any]] = []
    for name in checks:
        days = [r for r in rollups.get(name, ()) if first <= r[0] <= last]
        p95 = percentile(latencies.get(name, ()), 95)
        row: dict[str, Any] = {
            "name": name,
            **uptime_stats(days),
            "p95_latency_seconds": None if p95 is None else round(p95, 6),
            "p95_sampled": sampled,
            "daily": uptime_by(days, "day"),
        }
        if seconds >= 7 * DAY:
            row["weekly"] = uptime_by(days, "week")
        if seconds >= 28 * DAY:
            row["monthly"] = uptime_by(days, "month")
        rows.append(row)
    measured = [r["uptime_percent"] for r in rows if r["uptime_percent"] is not None]
    in_period = [i for i in incidents if start <= i.started_at < end]
    return {
        "period": {
            "start": iso(start),
            "end": iso(end),
            "seconds": seconds,
            "label": format_duration(seconds),
            "uptime_days": {"first": day_label(first), "last": day_label(last)},
        },
        "generated_at": iso(end if generated_at is None else generated_at),
        "uptime": {
            "percent": None if not measured else round(sum(measured) / len(measured), 4),
            "checks": len(rows),
            "measured": len(measured),
            "runs": sum(r["runs"] for r in rows),
            "ok": sum(r["ok"] for r in rows),
        },
        "checks": rows,
        "incidents": incident_stats(in_period),
        "notifications": notification_table(notifications),
        "slos": [
            slo_report(name, objective, (slo_days or {}).get(name, ()), seconds)
            for name, objective in slos
        ],
    }


def missed_slos(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SLOs that missed their objective over the period, lowest attainment first."""
    missed = [s for s in report.get("slos", ()) if s["met"] is False]
    return sorted(missed, key=lambda s: (s["attainment_percent"], s["name"]))


def worst_checks(report: Mapping[str, Any], n: int = WORST) -> list[dict[str, Any]]:
    """The ``n`` checks with the lowest uptime (checks that ran), lowest first."""
    measured = [c for c in report["checks"] if c["uptime_percent"] is not None]
    return sorted(measured, key=lambda c: (c["uptime_percent"], c["name"]))[:n]
