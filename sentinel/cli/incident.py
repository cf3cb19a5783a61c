"""``sentinel incident list|show|update``: incidents on a running sentinel, through its API
(address and token as for ``sentinel ack``: :class:`sentinel.remote_cli.Api`).

    sentinel incident list
    sentinel incident show INC-20260105-090000-ffff
    sentinel incident update INC-... --status monitoring "Rolled back deploy 42" --eta 30m

An update reaches everyone told about the incident so far (SMS only with ``--sms``).
Exit 0 on success, 1 when sentinel cannot be reached or refuses (its reason on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from sentinel.cli.remote import Api, ApiError, remote_command
from sentinel.config import Config
from sentinel.escalation.updates import STATUSES
from sentinel.tables import minute, render_table

SUMMARY = "list, show or post status updates on incidents of a running sentinel"
DESCRIPTION = (
    "Incidents on a running sentinel through its API: list them, show one's whole "
    "timeline, or post a status update (Status, Progress, Next steps, ETA) that reaches "
    "everyone told about the incident so far: Slack in the alert's thread, email in the "
    "same conversation, SMS only with --sms. The token is $SENTINEL_API_TOKEN or the "
    "config's server.api_token."
)
LIST_HEADER = ("ID", "STATE", "SEVERITY", "STARTED", "ACKNOWLEDGED BY", "TITLE")


def add_command(sub: Any) -> None:
    """The ``incident`` command and its actions, on the CLI's subparsers."""
    cmd = remote_command(sub, "incident", SUMMARY, DESCRIPTION)
    cmd.add_argument("--json", action="store_true", help="print the API's JSON")
    actions = cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="recent incidents, newest first")
    show = actions.add_parser("show", help="one incident and its whole timeline")
    show.add_argument("id", help="INC-...")
    update = actions.add_parser(
        "update",
        help="post a status update to everyone told",
        description="Post a status update; it reaches everyone told about the incident "
        "so far. Refused once the incident is resolved.",
    )
    update.add_argument("id", help="INC-...")
    update.add_argument("text", help="progress: what is known and what was done")
    update.add_argument("--status", required=True, choices=STATUSES)
    update.add_argument("--next", default="", dest="next_steps", help="next steps")
    update.add_argument("--eta", help="when it should be over, from now (30m, 2h)")
    update.add_argument("--sms", action="store_true", help="text the people told by SMS too")
    update.add_argument("--by", default=os.environ.get("USER", ""), help="who (default $USER)")


def list_rows(items: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            i["id"],
            i["state"],
            i["severity"],
            minute(i["started_at"]),
            i.get("acked_by") or "-",
            i["title"],
        )
        for i in items
    ]


def timeline_text(incident: dict[str, Any], status: str) -> str:
    """The incident's head, then one line an event, oldest first."""
    head = [
        f"{incident['id']}: {incident['title']}",
        f"Status: {status}   Severity: {incident['severity']}   "
        f"Acknowledged by: {incident.get('acked_by') or '-'}",
        f"Started {minute(incident['started_at'])}, resolved {minute(incident['resolved_at'])}",
    ]
    if incident.get("root_cause"):
        head.append(f"Root cause: {incident['root_cause']}")
    lines = [f"  {minute(e['at'])}  {e['kind']:<14} {e['text']}" for e in incident["timeline"]]
    return "\n".join([*head, "", "Timeline (UTC):", *lines])


def main(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    try:
        api = Api(args, config, env)
        if args.action == "list":
            items = api.call("GET", "/api/v1/incidents?limit=50")["items"]
            text = render_table(LIST_HEADER, list_rows(items)) if items else "no incidents"
            return _print(args, items, text)
        if args.action == "show":
            incident = api.call("GET", f"/api/v1/incidents/{args.id}")
            status = api.call("GET", f"/api/v1/incidents/{args.id}/updates")["status"]
            return _print(args, incident, timeline_text(incident, status))
        body = {
            "status": args.status,
            "text": args.text,
            "next_steps": args.next_steps,
            "eta": args.eta,
            "by": args.by,
            "sms": args.sms,
        }
        posted = api.call("POST", f"/api/v1/incidents/{args.id}/updates", body)
        who = f"{posted['recipients']} address{'es' if posted['recipients'] != 1 else ''}"
        return _print(args, posted, f"{posted['id']} {posted['status']}: sent to {who}")
    except ApiError as exc:
        print(exc, file=sys.stderr)
        return 1


def _print(args: argparse.Namespace, data: Any, text: str) -> int:
    print(json.dumps(data, indent=2) if args.json else text)
    return 0
