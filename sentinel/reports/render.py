"""A report for people: an aligned table, Markdown or JSON (:func:`render_report`),
and the few lines a scheduled notice carries (:func:`summary_text`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sentinel.notify.render import human_duration
from sentinel.reports.figures import OUTCOMES, missed_slos, worst_checks
from sentinel.tables import minute, render_table

Format = Literal["table", "markdown", "json"]
FORMATS: tuple[Format, ...] = ("table", "markdown", "json")


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


def _by_unit(checks: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """Which per-unit uptime (or attainment) the text formats show: days up to 14, else
    weeks up to 14, else months (JSON always has all that apply)."""
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
    unit = _by_unit(report["checks"])
    if unit is not None:
        key, title = unit
        labels = sorted({e["label"] for c in report["checks"] for e in c[key]})
        grid = []
        for c in report["checks"]:
            cells = {e["label"]: pct(e["uptime_percent"]) for e in c[key]}
            grid.append([c["name"], *(cells.get(label, "-") for label in labels)])
        sections.append((f"Uptime by {title}", ("Check", *labels), grid))
    sections += _slo_sections(report.get("slos", []))
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


def _met(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "NO"


def _budget(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _slo_sections(
    slos: Sequence[Mapping[str, Any]],
) -> list[tuple[str, Sequence[str], list[list[str]]]]:
    """The SLOs against their objectives over the period, and per day (week, month)."""
    if not slos:
        return []
    rows = [
        [
            s["name"],
            f"{s['objective_percent']:g}%",
            pct(s["attainment_percent"]),
            _met(s["met"]),
            _budget(s["error_budget_remaining"]),
            str(s["runs"]),
            str(s["bad"]),
        ]
        for s in slos
    ]
    header = ("SLO", "Objective", "Attainment", "Met", "Budget left", "Runs", "Bad")
    out: list[tuple[str, Sequence[str], list[list[str]]]] = [("SLOs", header, rows)]
    unit = _by_unit(slos)
    if unit is not None:
        key, title = unit
        labels = sorted({e["label"] for s in slos for e in s[key]})
        grid = []
        for s in slos:
            cells = {
                e["label"]: pct(e["attainment_percent"]) + ("" if e["met"] is not False else " !")
                for e in s[key]
            }
            grid.append([s["name"], *(cells.get(label, "-") for label in labels)])
        out.append((f"SLO attainment by {title}", ("SLO", *labels), grid))
    return out


def _notes(report: Mapping[str, Any]) -> list[str]:
    days = report["period"]["uptime_days"]
    notes = [
        f"Uptime and average latency from daily rollups of whole UTC days "
        f"{days['first']} to {days['last']}."
    ]
    if any(c["p95_sampled"] for c in report["checks"]):
        notes.append("* p95 estimated from a sample of the period (7 days of runs, spread).")
    if report.get("slos"):
        notes.append(
            "SLO attainment: good runs / all runs in the period, to the minute; budget left is "
            'the share of the period\'s error budget not spent; "!" marks a missed objective.'
        )
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
    slos = report.get("slos", [])
    measured = [s for s in slos if s["met"] is not None]
    if measured:
        missed = missed_slos(report)
        line = f"SLOs: {len(measured) - len(missed)} of {len(measured)} met"
        if missed:
            line += "; missed: " + ", ".join(
                f"{s['name']} {pct(s['attainment_percent'])} < {s['objective_percent']:g}%"
                for s in missed
            )
        lines.append(line)
    worst = worst_checks(report)
    if worst:
        lines.append(
            "Worst checks: " + ", ".join(f"{c['name']} {pct(c['uptime_percent'])}" for c in worst)
        )
    return "\n".join(lines)
