"""Crash safety: a real sentinel process killed with SIGKILL at a random instant while a
critical alert escalates, then restarted. Nothing is lost; nothing is repeated except in
the window between a provider's 2xx and the outbox recording it (counted); the
resolution arrives; a pending ``for`` survives the restart.

Kinds of kill, chosen per run from a seeded generator:

- ``random``: at a random instant of the scenario (start-up included);
- ``send``: while a provider holds its answer to a request it has accepted;
- ``reload``: just after a SIGHUP;
- ``storm``: several alerts at once, digests held and sent, killed at random or (every
  other storm run) while the webhook holds the answer to its third request, usually
  the digest.

``make test`` runs a few runs (SENTINEL_KILL_RUNS, default 8); ``make soak`` runs 50+.
Each run prints a line of figures; tests/reliability/kill_figures.json collects them
when SENTINEL_KILL_FIGURES names a file.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.notify.fakes import hold_next, release
from tests.reliability.harness import (
    EMAILS,
    PHONES,
    STEPS,
    Peers,
    Sentinel,
    alert_rows,
    config_text,
    eventually,
    normalise,
    outbox_counts,
    peers,
    received,
    rows,
    star,
    windows,
)

RUNS = int(os.environ.get("SENTINEL_KILL_RUNS", "8"))
SEED = int(os.environ.get("SENTINEL_KILL_SEED", "20261204"))
MODES = ("random", "send", "reload", "storm")
STORM_CHECKS = [f"c{i}" for i in range(5)]


@dataclass
class Run:
    index: int
    mode: str
    kill_at: float  # seconds after the first process started
    killed_mid_send: bool
    killed_mid_digest: bool  # the held request was a storm's digest
    pending_at_kill: bool
    duplicates: int
    max_delay: float  # seconds from a notice falling due to the provider accepting it
    windows_ms: list[float]  # provider accepted -> outbox updated, per notice (no repeats)


def plan(i: int) -> tuple[str, random.Random]:
    rng = random.Random(SEED * 1000 + i)
    return MODES[i % len(MODES)], rng


class Recovery:
    """Flips the target healthy once every step was delivered, and watches the alerts
    table (for the ``for`` carried over)."""

    def __init__(self, p: Peers, db: Path, checks: list[str], last_step: int) -> None:
        self.p, self.db, self.checks, self.last_step = p, db, checks, last_step
        self.at: float | None = None  # wall time the target recovered
        self.firing: dict[str, float] = {}  # check -> active_since seen while firing

    def steps_done(self) -> bool:
        done = {
            (r["notice"]["alert"]["check"], r["notice"]["step"])
            for r in rows(self.db)
            if r["channel"] == "hook" and r["state"] in ("sent", "merged") and r["notice"]["alert"]
        }
        return all((c, self.last_step) in done for c in self.checks)

    async def watch(self) -> None:
        while self.at is None:
            for a in alert_rows(self.db):
                if a["state"] == "firing":
                    self.firing.setdefault(a["check"], a["active_since"])
            if self.steps_done():
                self.p.target.down.clear()
                self.at = time.time()
            await asyncio.sleep(0.05)


def finished(db: Path, routes: int) -> bool:
    found = rows(db)
    resolved = [r for r in found if r["notice"]["kind"] == "resolved"]
    open_ = [r for r in found if r["state"] in ("pending", "held")]
    return len(resolved) >= routes and not open_


def expected_shape(found: list[dict[str, Any]]) -> Counter[tuple[str, str, str, int]]:
    """The single-alert scenario's outbox, one row per (channel, address, kind, step)."""
    return Counter(
        (
            r["channel"],
            r["address"] or "",
            "resolved" if r["notice"]["kind"] == "resolved" else "page",
            -1 if r["notice"]["kind"] == "resolved" else r["notice"]["step"],
        )
        for r in found
    )


SHAPE = Counter(
    {
        ("hook", "", "page", 0): 1,
        ("hook", "", "page", 1): 1,
        ("hook", "", "page", 2): 1,
        ("sms", PHONES["ann"], "page", 0): 1,
        ("email", EMAILS["bea"], "page", 1): 1,
        ("sms", PHONES["cid"], "page", 2): 1,
        ("email", EMAILS["cid"], "page", 2): 1,
        ("hook", "", "resolved", -1): 1,
        ("sms", PHONES["ann"], "resolved", -1): 1,
        ("email", EMAILS["bea"], "resolved", -1): 1,
        ("sms", PHONES["cid"], "resolved", -1): 1,
        ("email", EMAILS["cid"], "resolved", -1): 1,
    }
)


def max_delay(found: list[dict[str, Any]], recovered: float | None) -> float:
    delays = []
    for r in found:
        notice, sent = r["notice"], r["sent_at"]
        if sent is None:
            continue
        if notice["kind"] == "resolved":
            if recovered is not None:
                delays.append(sent - recovered)
        elif notice.get("alert") and notice["alert"].get("since") is not None:
            delays.append(sent - (notice["alert"]["since"] + STEPS[notice["step"]]))
    return max(delays, default=0.0)


async def one_run(tmp: Path, i: int) -> Run:
    mode, rng = plan(i)
    storm = mode == "storm"
    checks = STORM_CHECKS if storm else ["api"]
    db = tmp / "state.db"
    async with peers() as p:
        p.target.down = set(checks)
        config = tmp / "sentinel.yaml"
        port = free_port()
        config.write_text(config_text(p, port, db, checks, storm=storm))
        log = tmp / "sentinel.log"
        recovery = Recovery(p, db, checks, last_step=1 if storm else 2)
        watcher = asyncio.create_task(recovery.watch())
        first = Sentinel(config, log)
        await first.start()
        t0 = time.monotonic()
        held = None
        digest = storm and (i // len(MODES)) % 2 == 1  # every other storm run
        if mode == "send" or digest:
            # In a storm the first two notices go at once and the rest are held for the
            # window: the webhook's third request is then usually the digest.
            held = p.hook if digest else rng.choice([p.hook, p.sms, p.email])
            skip = 2 if digest else rng.randint(0, 1)
            hold_next(held, skip=skip)
            await eventually(  # the provider accepted it and holds the answer
                lambda: held is not None and not held.faults and len(held.accepted) > skip,
                what="a held request",
            )
            await asyncio.sleep(rng.uniform(0.0, 0.2))
        elif mode == "reload":
            await asyncio.sleep(rng.uniform(1.0, 6.0))
            first.signal(signal.SIGHUP)
            await asyncio.sleep(rng.uniform(0.0, 0.3))
        else:
            await asyncio.sleep(rng.uniform(0.3, 8.0))
        kill_at = time.monotonic() - t0
        await first.kill()
        mid_digest = held is not None and (held.accepted[-1].json or {}).get("kind") == "digest"
        at_kill = rows(db)
        pending_at_kill = {
            a["check"]: a["active_since"] for a in alert_rows(db) if a["state"] == "pending"
        }
        if held is not None:
            release(held)
        # What a provider accepted that the outbox does not show as delivered: the one
        # window in which a restart sends again.
        window = received(p) - normalise(outbox_counts(at_kill))
        second = Sentinel(config, log)
        await second.start()
        await second.ready(port)
        routes = len(checks) * 2 if storm else 5
        try:
            await eventually(lambda: finished(db, routes), seconds=60, what="the scenario's end")
        finally:
            assert await second.stop() == 0
            watcher.cancel()
        final = rows(db)
        got = received(p)
        sizes = windows(p, log)
    expected = normalise(outbox_counts(final))
    folded: tuple[str, ...] = ("sms",) if storm else ()
    got_s, expected_s, window_s = star(got, folded), star(expected, folded), star(window, folded)
    lost = expected_s - got_s
    assert not lost, f"run {i} ({mode}): never delivered {dict(lost)}"
    extra = got_s - expected_s
    beyond = extra - window_s
    assert not beyond, f"run {i} ({mode}): sent again outside the 2xx window {dict(beyond)}"
    assert all(r["state"] in ("sent", "merged") for r in final), f"run {i}: {final}"
    if not storm:
        assert expected_shape(final) == SHAPE, f"run {i}: outbox {expected_shape(final)}"
    else:
        kinds = Counter(r["notice"]["kind"] for r in final if r["channel"] == "hook")
        assert kinds["resolved"] == len(checks), f"run {i}: {kinds}"
    for check, since in pending_at_kill.items():
        assert recovery.firing.get(check) == since, (
            f"run {i}: {check} pending since {since} before the kill, "
            f"firing with active_since {recovery.firing.get(check)} after it"
        )
    return Run(
        index=i,
        mode=mode,
        kill_at=round(kill_at, 2),
        killed_mid_send=held is not None,
        killed_mid_digest=mid_digest,
        pending_at_kill=bool(pending_at_kill),
        duplicates=sum(extra.values()),
        max_delay=round(max_delay(final, recovery.at), 2),
        windows_ms=[] if extra else [round(w * 1000, 1) for w in sizes],
    )


@pytest.mark.parametrize("i", range(RUNS))
async def test_kill_9_at_a_random_instant(tmp_path: Path, i: int) -> None:
    """One kill run (see the module's docstring); the figures go to SENTINEL_KILL_FIGURES."""
    record(await one_run(tmp_path, i))


def record(run: Run) -> None:
    """One JSON line of figures, appended to the file SENTINEL_KILL_FIGURES names."""
    out = os.environ.get("SENTINEL_KILL_FIGURES")
    if out:
        with Path(out).open("a") as f:
            f.write(json.dumps(asdict(run)) + "\n")
