"""`sentinel cluster status` renders what /api/v1/cluster answers (the payload checked
against the API's own model first)."""

from __future__ import annotations

from typing import Any

from sentinel.cli.cluster import render
from sentinel.web.models import Cluster, dumped


def member(mid: str, live: bool, owned: int | None, age: float) -> dict[str, Any]:
    return {
        "id": mid,
        "location": "eu-west",
        "version": "0.1.0",
        "schema_version": 8,
        "started": 1.0,
        "heartbeat": 2.0,
        "heartbeat_age_seconds": age,
        "live": live,
        "connected": live,
        "owned_checks": owned,
    }


def test_members_leader_claims_and_dead_members_are_shown() -> None:
    """One line per member: state (leader, live, dead and why), checks owned, alerts held,
    rows sending."""
    payload = dumped(
        Cluster,
        {
            "clustered": True,
            "member": "a",
            "database_time": 100.0,
            "clock_offset_seconds": -0.25,
            "lease_seconds": 15.0,
            "leader": "b",
            "members": [
                member("a", True, 10, 0.5),
                member("b", True, 11, 3.0),
                member("c", False, None, 40.0),
            ],
            "locations": {"eu-west": ["a", "b"]},
            "alert_claims": {"a": 2},
            "outbox_claims": {"b": 1},
            "outbox_open": 1,
        },
    )
    text = render(payload)
    assert "2 live of 3 members; leader b; lease 15s; clock offset to the database -0.250s" in text
    lines = {line.split()[0]: line.split() for line in text.splitlines()[5:]}
    assert lines["a"][1:] == ["*", "eu-west", "0.1.0", "8", "0.5s", "ago", "live", "10", "2", "0"]
    assert lines["b"][6:] == ["leader", "11", "0", "1"]
    assert lines["c"][6:9] == ["dead", "(session", "closed)"]


def test_one_process_says_there_is_no_cluster() -> None:
    """SQLite: one member, no cluster."""
    payload = {
        "clustered": False,
        "members": [member("solo", True, None, 0.0)],
    }
    assert render(payload).startswith("one process (SQLite store): member solo")
