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
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from sentinel.clock import iso
from sentinel.config import Config, format_duration
from sentinel.config.units import parse_duration
from sentinel.escalation.incidents import Incident
from sentinel.notify.render import human_duration
from sentinel.tables import minute, render_table

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

Format = Literal["table", "markdown", "json"]
FORMATS: tuple[Format, ...] = ("table", "markdown", "json")
DayRow = tuple[int, int, int, float]  # (day since the epoch, ok runs, all runs, duration sum)


class ReportSource(Protocol):
    """What a report reads of a store (every :class:`sentinel.store.Store` has it)."""

    async def uptime_days(
        self, since_day: int, checks: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int, int, int, float]]]: ...

    async def durations(self, check: str, since: float, until: float) -> list[float]: ...

    async def incidents(
        self, *, limit: int = 50, offset: int = 0, since: float | None = None
    ) -> list[Incident]: ...

    async def notification_counts(
        self, since: float, until: float
    ) -> dict[tuple[str, str], int]: ...


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
) -> dict[str, Any]:
    """The report from plain data; ``rollups`` may hold days outside the period (ignored)."""
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
    }


def worst_checks(report: Mapping[str, Any], n: int = WORST) -> list[dict[str, Any]]:
    """The ``n`` checks with the lowest uptime (checks that ran), lowest first."""
    measured = [c for c in report["checks"] if c["uptime_percent"] is not None]
    return sorted(measured, key=lambda c: (c["uptime_percent"], c["name"]))[:n]


# -- gathering ---------------------------------------------------------------


async def build_report(
    store: ReportSource, config: Config, now: datetime, period_seconds: float
) -> dict[str, Any]:
    """The report for ``[now - period, now)`` over the configured checks (JSON-safe)."""
    if period_seconds <= 0:
        raise ValueError("the period must be positive")
    end = now.timestamp()
    start = end - period_seconds
    checks = [c.name for c in config.checks]
    first, _ = day_range(start, end)
    rollups = await store.uptime_days(first, checks) if checks else {}
    windows = sample_windows(start, end)
    latencies: dict[str, list[float]] = {}
    for name in checks:
        values: list[float] = []
        for a, b in windows:
            values += await store.durations(name, a, b)
        latencies[name] = thin(values, P95_MAX_ROWS)
    incidents: list[Incident] = []
    offset = 0
    while True:
        page = await store.incidents(limit=INCIDENT_PAGE, offset=offset, since=start)
        incidents += page
        if len(page) < INCIDENT_PAGE:
            break
        offset += INCIDENT_PAGE
    return compose_report(
        start=start,
        end=end,
        checks=checks,
        rollups=rollups,
        latencies=latencies,
        sampled=len(windows) > 1,
        incidents=incidents,
        notifications=await store.notification_counts(start, end),
    )


def parse_period(text: str) -> float:
    """``--period`` as seconds (``1d``, ``7d``, ``4w``); ValueError with a message."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"period must be longer than zero, got {text!r}")
    return seconds


async def report_command(
    config: Config, period: str, fmt: Format, now: datetime
) -> tuple[int, str]:
    """``sentinel report``: (exit code, text). 0 with the report (for stdout), 2 for a
    bad period, 1 when the store cannot be read (the text then goes to stderr)."""
    from sentinel.store import StoreError, open_store

    try:
        seconds = parse_period(period)
    except ValueError as exc:
        return 2, f"--period: {exc}"
    try:
        store = open_store(
            config.storage.url.get_secret_value(), pool_size=config.storage.pool_size
        )
        await store.open()
    except StoreError as exc:
        return 1, f"cannot read the store: {exc}"
    try:
        report = await build_report(store, config, now, seconds)
    except StoreError as exc:
        return 1, f"cannot read the store: {exc}"
    finally:
        await store.close()
    return 0, render_report(report, fmt)


# -- rendering -----------------------------------------------------------------


def pct(value: float | None) -> str:
    """Uptime for people, never rounded up to 100%: ``99.99%``, ``100%``, ``-``."""
    if value is None:
        return "-"
    if value >= 100:
        return "100%"
    return f"{math.floor(value * 100) / 100:.2f}%"


def latency(seconds: float | None) -> str:
    """``4.2ms``, ``120ms``, ``1.35s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f}ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.2f}s"


def _took(seconds: float | None) -> str:
    return "-" if seconds is None else human_duration(seconds)


def _severities(by: Mapping[str, int]) -> str:
    return ", ".join(f"{s} {n}" for s, n in by.items())


def _headline(report: Mapping[str, Any]) -> str:
    p = report["period"]
    return f"{minute(p['start'])} to {minute(p['end'])} ({p['label']})"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _by_unit(report: Mapping[str, Any]) -> tuple[str, str] | None:
    """Which per-unit uptime the text formats show: days up to 14, else weeks up to 14,
    else months (JSON always has all that apply)."""
    checks = report["checks"]
    if not checks:
        return None
    for key, title in (("daily", "day"), ("weekly", "week"), ("monthly", "month")):
        if key in checks[0] and len({e["label"] for c in checks for e in c[key]}) <= 14:
            return key, title
    return ("monthly", "month") if "monthly" in checks[0] else None


def _sections(report: Mapping[str, Any]) -> list[tuple[str, Sequence[str], list[list[str]]]]:
    """(title, header, rows) of each table, shared by the table and Markdown forms."""
    inc = report["incidents"]
    sent = sum(c["sent"] for c in report["notifications"].values())
    failed = sum(c["failed"] + c["dead"] for c in report["notifications"].values())
    kpis = [
        ["Uptime (mean of checks)", pct(report["uptime"]["percent"])],
        ["Checks", str(report["uptime"]["checks"])],
        ["Runs", str(report["uptime"]["runs"])],
        [
            "Incidents",
            str(inc["total"]) + (f" ({_severities(inc['by_severity'])})" if inc["total"] else ""),
        ],
        ["MTTA", _took(inc["mtta_seconds"]) + f" ({inc['acknowledged']} acknowledged)"],
        ["MTTR", _took(inc["mttr_seconds"]) + f" ({inc['resolved']} resolved)"],
        ["Notifications sent / failed", f"{sent} / {failed}"],
    ]
    sections: list[tuple[str, Sequence[str], list[list[str]]]] = [
        ("Summary", ("KPI", "Value"), kpis)
    ]
    checks = [
        [
            c["name"],
            pct(c["uptime_percent"]),
            str(c["runs"]),
            str(c["failed"]),
            latency(c["avg_latency_seconds"]),
            latency(c["p95_latency_seconds"]) + ("*" if c["p95_sampled"] else ""),
        ]
        for c in report["checks"]
    ]
    sections.append(
        ("Checks", ("Check", "Uptime", "Runs", "Failed", "Avg latency", "p95 latency"), checks)
    )
    unit = _by_unit(report)
    if unit is not None:
        key, title = unit
        labels = sorted({e["label"] for c in report["checks"] for e in c[key]})
        grid = []
        for c in report["checks"]:
            cells = {e["label"]: pct(e["uptime_percent"]) for e in c[key]}
            grid.append([c["name"], *(cells.get(label, "-") for label in labels)])
        sections.append((f"Uptime by {title}", ("Check", *labels), grid))
    incidents = [
        [
            i["id"],
            i["severity"],
            minute(i["started"]),
            _took(i["acknowledged_after_seconds"]),
            "ongoing" if i["duration_seconds"] is None else _took(i["duration_seconds"]),
            i["title"],
        ]
        for i in inc["list"]
    ]
    sections.append(
        ("Incidents", ("Id", "Severity", "Started", "Ack after", "Duration", "Title"), incidents)
    )
    channels = [
        [name, *(str(c[o]) for o in OUTCOMES)] for name, c in report["notifications"].items()
    ]
    sections.append(("Notifications", ("Channel", *(o.capitalize() for o in OUTCOMES)), channels))
    return sections


def _notes(report: Mapping[str, Any]) -> list[str]:
    days = report["period"]["uptime_days"]
    notes = [
        f"Uptime and average latency from daily rollups of whole UTC days "
        f"{days['first']} to {days['last']}."
    ]
    if any(c["p95_sampled"] for c in report["checks"]):
        notes.append("* p95 estimated from a sample of the period (7 days of runs, spread).")
    return notes


def render_report(report: Mapping[str, Any], fmt: Format) -> str:
    """The report as an aligned plain-text table, Markdown, or JSON (indent 2)."""
    if fmt == "json":
        return json.dumps(report, indent=2)
    name = report.get("name")
    title = f"sentinel {name} report" if name else "sentinel report"
    sections = _sections(report)
    if fmt == "markdown":
        parts = [f"# {_md_cell(title)}: {_headline(report)}"]
        for heading, header, rows in sections:
            parts.append(f"## {heading}\n\n" + (_md_table(header, rows) if rows else "_none_"))
        parts.append("\n\n".join(f"_{n}_" for n in _notes(report)))
        return "\n\n".join(parts) + "\n"
    if fmt == "table":
        parts = [f"{title}: {_headline(report)}"]
        for heading, header, rows in sections:
            if heading == "Summary":
                parts.append(render_table(None, rows))
                continue
            parts.append(
                f"{heading.upper()}\n"
                + (render_table([h.upper() for h in header], rows) if rows else "(none)")
            )
        parts.append("\n".join(_notes(report)))
        return "\n\n".join(parts) + "\n"
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def summary_text(report: Mapping[str, Any]) -> str:
    """A few lines for a notification: overall uptime, incidents by severity,
    MTTA/MTTR, the worst checks. The first line stands alone (SMS, email subject)."""
    name = report.get("name")
    inc = report["incidents"]
    up = report["uptime"]
    head = f"{name} report" if name else "Report"
    lines = [
        f"{head} {_headline(report)}: uptime {pct(up['percent'])} across {up['checks']} "
        f"check{'' if up['checks'] == 1 else 's'}, {inc['total']} "
        f"incident{'' if inc['total'] == 1 else 's'}",
        f"Incidents: {inc['total']}"
        + (f" ({_severities(inc['by_severity'])})" if inc["total"] else "")
        + f"; MTTA {_took(inc['mtta_seconds'])}; MTTR {_took(inc['mttr_seconds'])}",
    ]
    worst = worst_checks(report)
    if worst:
        lines.append(
            "Worst checks: " + ", ".join(f"{c['name']} {pct(c['uptime_percent'])}" for c in worst)
        )
    return "\n".join(lines)
