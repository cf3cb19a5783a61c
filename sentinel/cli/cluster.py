"""``sentinel cluster status``: a running sentinel's view of its cluster, from
/api/v1/cluster: every member (location, version, schema, heartbeat age, live,
checks owned), the leader, the lease, and who holds which claims. Address and token
as ``sentinel slo``. Exit 0; 1 when sentinel cannot be reached, or when asked with
``never; 2 for a bad config.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sentinel.cli.remote import api_get, remote_command
from sentinel.tables import render_table

COMMANDS = ("cluster",)
HEADER = (
    "MEMBER",
    "LOCATION",
    "VERSION",
    "SCHEMA",
    "HEARTBEAT",
    "STATE",
    "CHECKS",
    "ALERTS",
    "SENDING",
)


def add_commands(sub: Any) -> None:
    cmd = remote_command(
        sub,
        "cluster",
        "show the cluster: members, leader, leases, claims",
        "A running sentinel's view of its cluster (several replicas on one "
        "PostgreSQL): members, locations, the leader, leases and claims.",
    )
    cmd.add_argument("action", choices=("status",), help="status: members, leader, claims")
    cmd.add_argument("--json", action="store_true", help="the API's object")


def _state(m: dict[str, Any], leader: str | None) -> str:
    if not m["live"]:
        return "dead (lease ran out)" if m["connected"] else "dead (session closed)"
    return "leader" if m["id"] == leader else "live"


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s ago"


def render(c: dict[str, Any]) -> str:
    if not c["clustered"]:
        m = c["members"][0]
        return (
            f"one process (SQLite store): member {m['id']}, location {m['location']}; no cluster\n"
        )
    leader = c["leader"]
    rows = [
        (
            m["id"] + (" *" if m["id"] == c["member"] else ""),
            m["location"],
            m["version"],
            str(m["schema_version"]),
            _age(m["heartbeat_age_seconds"]),
            _state(m, leader),
            "-" if m["owned_checks"] is None else str(m["owned_checks"]),
            str(c["alert_claims"].get(m["id"], 0)),
            str(c["outbox_claims"].get(m["id"], 0)),
        )
        for m in c["members"]
    ]
    live = sum(1 for m in c["members"] if m["live"])
    head = [
        f"{live} live of {len(c['members'])} members; leader {leader or 'none'}; "
        f"lease {c['lease_seconds']:g}s; clock offset to the database "
        f"{c['clock_offset_seconds']:+.3f}s",
        "locations: "
        + (", ".join(f"{loc} ({len(ids)})" for loc, ids in sorted(c["locations"].items())) or "-"),
        f"open outbox rows: {c['outbox_open'] if c['outbox_open'] is not None else '-'}",
        "(* the member that answered; ALERTS: escalations held; SENDING: outbox rows claimed)",
        "",
    ]
    return "\n".join(head) + render_table(HEADER, rows)


def main(args: argparse.Namespace) -> int:
    found, status = api_get(args, "/api/v1/cluster")
    if status:
        return status
    print(
        json.dumps(found, indent=2) if args.json else render(found),
        end="" if not args.json else "\n",
    )
    return 0
