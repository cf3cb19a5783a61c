"""A check handed on mid-escalation (real members on one PostgreSQL): the member that
loses the check lets go of its alert's escalation claim at once, so the member that
takes the check sends the next step on time, not when the old claim runs out (a
lease later: a minute here, to make the difference plain) (docs/scaling.md)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from sentinel.cluster.ownership import weight
from tests.cluster.harness import (
    ON_TIME,
    START,
    Member,
    arrivals,
    member,
    outbox,
    received,
    start_all,
)
from tests.polling import eventually
from tests.reliability.harness import peers

STEPS = (0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0)  # a step at most 15 s after any handover
LEASE = 60.0  # the claims' too: a claim left to run out would hold the escalation a minute


async def test_the_member_taking_a_check_mid_escalation_sends_the_next_step_on_time(
    postgres_url: str, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    first = f"x{tag}"
    # an id that wins the check "api" against the first member's
    second = next(
        f"y{tag}{n}" for n in range(1000) if weight(f"y{tag}{n}", "api") > weight(first, "api")
    )
    env = {"SENTINEL_CLUSTER_LEASE": f"{LEASE:g}"}
    async with peers() as p:
        a = member(p, tmp_path, first, postgres_url, env, steps=STEPS)
        b = member(p, tmp_path, second, postgres_url, env, steps=STEPS)
        try:
            await start_all([a])
            p.target.down.add("api")
            await eventually(lambda: ("firing", 0) in received(p), 30)
            t0 = arrivals(p)[("firing", 0)]
            await b.proc.start()
            await b.proc.ready(b.port, START)
            # the first member hands the check on when its heartbeat sees the second
            await eventually(lambda: _handed_on(a), LEASE)
            handed = time.time()
            n = next(i for i, s in enumerate(STEPS) if t0 + s > handed + 2.0)
            due = t0 + STEPS[n]
            await eventually(lambda: ("escalation", n) in received(p), due - time.time() + 30)
            late = arrivals(p)[("escalation", n)] - due
            assert late <= ON_TIME, (n, late)
            sent = [
                r for r in await outbox(postgres_url) if r["step"] == n and r["state"] == "sent"
            ]
            assert [r["claimed_by"] for r in sent] == [second], sent
        finally:
            for m in (a, b):
                if m.proc.proc is not None and m.proc.proc.returncode is None:
                    await m.proc.stop()


def _handed_on(m: Member) -> bool:
    return any(e.get("lost") == 1 for e in m.logged("cluster_share"))
