"""``sentinel slo [--explain NAME]``: a running sentinel's SLOs, from /api/v1/slos.

The table shows each SLO's objective, attainment over its window, error budget left,
the 1h burn rate and the alert pairs firing; ``--explain NAME`` shows one SLO's
windows, each pair's burn rates against its factor, what fires, and once firing what
resolves it (its hysteresis) and how long an inhibition holds it. Address and token
as ``sentinel silence``. Exit 0; 1 when sentinel cannot be reached or the SLO is
unknown; 2 for a bad config.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from typing import Any

from sentinel.cli.remote import api_get, remote_command
from sentinel.tables import render_table

COMMANDS = ("slo",)
HEADER = ("SLO", "OBJECTIVE", "WINDOW", "ATTAINMENT", "BUDGET LEFT", "BURN 1H", "FIRING")


def add_commands(sub: Any) -> None:
    cmd = remote_command(
        sub,
        "slo",
        "show the SLOs: attainment, error budget left, burn rates",
        "A running sentinel's SLOs: attainment and error budget left over each "
        "SLO's window; --explain NAME shows the windows, burn rates and what fires.",
    )
    cmd.add_argument("--explain", metavar="NAME", help="one SLO's windows and alert pairs")
    cmd.add_argument("--json", action="store_true", help="the API's objects")


def percent(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def attained(value: float | None) -> str:
    """An attainment with three decimals, rounded down as on the status page: 99.9989%
    against 99.999% is a miss, and must not read 99.999%."""
    return "-" if value is None else f"{math.floor(value * 100_000 + 1e-9) / 1000:.3f}%"


def objective(value: float) -> str:
    """An objective with three decimals, or as many more as it has (99.9995%)."""
    digits = next((d for d in range(3, 7) if abs(round(value * 100, d) - value * 100) < 1e-9), 6)
    return f"{value * 100:.{digits}f}%"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(slos: list[dict[str, Any]]) -> str:
    rows = [
        (
            s["name"],
            objective(s["objective"]),
            s["window"],
            attained(s["attainment"]),
            percent(s["error_budget_remaining"], 1),
            rate(s["burn_rates"].get("1h")),
            ", ".join(s["firing"]) or "-",
        )
        for s in slos
    ]
    return render_table(HEADER, rows)


def duration(seconds: float) -> str:
    """``3d 4h``, ``2h 5m``, ``45m``, ``30s``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m = s // 60
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m and not d else ""]
    return " ".join(p for p in parts if p) or "0m"


def state(a: dict[str, Any]) -> str:
    """FIRING, or which window is still below the factor."""
    if a["firing"]:
        return "FIRING"
    if a.get("warming"):
        return f"warming (less than {a['long']} of runs counted)"
    below = [
        w
        for w, r in ((a["long"], a["long_burn_rate"]), (a["short"], a["short_burn_rate"]))
        if r is None or r < a["factor"]
    ]
    return "quiet (" + " and ".join(below) + " below)"


def explain(s: dict[str, Any]) -> str:
    left = s["exhaustion_seconds"]
    budget = s["error_budget_remaining"]
    allowed = 1.0 - s["objective"]
    if budget is not None and budget <= 0:
        gone = ", spent"
    elif left is None:
        gone = ", not burning over the last hour"
    else:
        gone = f", gone in {duration(left)} at the 1h burn rate"
    lines = [
        f"{s['name']}: {s['indicator']} {objective(s['objective'])} over {s['window']}"
        + (
            f" (good: ok and faster than {s['threshold_seconds']:g}s)"
            if s["threshold_seconds"]
            else ""
        ),
        f"  runs {s['total']}, good {s['good']}, attainment {attained(s['attainment'])}",
        f"  error budget: {percent(allowed)} of the runs may be bad;"
        f" left {percent(budget, 1)}" + ("" if budget is None else gone),
        "  burn rates: " + ", ".join(f"{w} {rate(r)}" for w, r in s["burn_rates"].items()),
        "",
    ]
    rows = [
        (
            a["name"],
            a["severity"],
            f"{a['factor']:g}x",
            f">= {percent(a['factor'] * allowed, 2)} bad over {a['long']} and {a['short']}",
            f"{a['long']} {rate(a['long_burn_rate'])}",
            f"{a['short']} {rate(a['short_burn_rate'])}",
            state(a),
        )
        for a in s["alerts"]
    ]
    header = ("ALERT", "SEVERITY", "FACTOR", "FIRES WHEN", "LONG WINDOW", "SHORT WINDOW", "STATE")
    text = "\n".join(lines) + render_table(header, rows) + "\n\n" + once_firing(s["alerts"])
    firing = [a["name"] for a in s["alerts"] if a["firing"]]
    text += "\n\n" + (
        f"Firing now: {', '.join(firing)} (rule SLO:{s['name']}:<pair>)."
        if firing
        else "Nothing fires now: a pair fires when both its windows reach its factor."
    )
    return text


def once_firing(alerts: list[dict[str, Any]]) -> str:
    """What keeps each pair firing (its hysteresis) and how long it stays inhibited after
    an inhibiting alert on the SLO's checks resolves (its inhibition hold)."""
    rows = []
    for a in alerts:
        factor = a["factor"]
        short = factor * a.get("hysteresis", 1.0)  # an older sentinel's answer has none
        hold = a.get("inhibition_hold")
        rows.append(
            (
                a["name"],
                f"{a['long']} < {factor:g}x or {a['short']} < {short:g}x",
                "off" if hold is None else f"{hold} after the inhibiting alert resolves",
            )
        )
    note = (
        "Once firing, a pair stays while its long window is at its factor and its short"
        " window at factor x hysteresis."
    )
    if any(a.get("inhibition_hold") is not None for a in alerts):
        note += (
            " Inhibited by an alert on one of the SLO's checks, a pair stays inhibited while"
            " that alert is pending (if it was when the pair fired), and for the hold after"
            " it resolves (its short window still holds the failures that alert paged for)."
        )
    header = ("ALERT", "ONCE FIRING, RESOLVES WHEN", "INHIBITION HOLD")
    return render_table(header, rows) + "\n\n" + textwrap.fill(note, 88)


def main(args: argparse.Namespace) -> int:
    found, status = api_get(args, "/api/v1/slos")
    if status:
        return status
    slos: list[dict[str, Any]] = found["slos"]
    if args.explain is not None:
        chosen = [s for s in slos if s["name"] == args.explain]
        if not chosen:
            print(f"no SLO named {args.explain!r}", file=sys.stderr)
            return 1
        print(json.dumps(chosen[0], indent=2) if args.json else explain(chosen[0]))
        return 0
    print(json.dumps(slos, indent=2) if args.json else table(slos))
    return 0
