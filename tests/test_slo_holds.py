"""An SLO alert's inhibition hold survives a restart of the daemon (docs/slos.md, "Not
paged twice for one outage"): the resolution of the source alert that holds it is kept
in the store and read back at start (real daemons, real TCP probes, SQLite in tmp_path,
on a fake clock).

The SLO covers two checks: ``web`` (ServiceDown's) and ``web-b`` (no rule). Both go
down; ServiceDown pages, the SLO's page-fast fires inhibited by it. ``web`` comes back
and ServiceDown resolves: page-fast stays held for its short window (5m) plus a minute.
The daemon stops a minute into the hold and a new one starts on the same store.

Also: the shell's writes of the resolutions, and ``sentinel slo --explain`` showing
each pair's hold from the running config."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
import structlog

from sentinel.app.daemon import Daemon
from sentinel.cli.main import main
from sentinel.clock import FakeClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from sentinel.routing.quiet import HOLD_MARGIN
from sentinel.rules.engine import Instance, Transition
from sentinel.rules.state import AlertState
from sentinel.store import StoreError, open_store
from sentinel.store.protocols import HoldRow
from sentinel.store.sqlite import SqliteStore
from tests.conftest import free_port
from tests.polling import run_daemon_for, run_daemon_until
from tests.test_firings import Port
from tests.test_slo_worked_example import Shell

FAST = "SLO:web-availability:page-fast"
HOLD = 5 * 60 + HOLD_MARGIN  # page-fast's short window plus a minute
STEP = 1.0  # fake seconds per step: the checks run every 5 s


def config_text(tmp_path: Path, web: int, web_b: int) -> str:
    return f"""
server:
  listen: "127.0.0.1:0"
  api_token: "t0ken-for-the-holds-test"
storage:
  url: "sqlite:{tmp_path}/state.db"
checks:
  - {{name: web, type: tcp, target: "127.0.0.1:{web}", interval: 5s, timeout: 1s,
      labels: {{service: web}}}}
  - {{name: web-b, type: tcp, target: "127.0.0.1:{web_b}", interval: 5s, timeout: 1s,
      labels: {{service: web}}}}
rules:
  - {{name: ServiceDown, match: {{check: web}}, expr: up == 0, severity: critical}}
slos:
  - name: web-availability
    match: {{service: web}}
    objective: 99.9%
    labels: {{service: web}}
inhibit:
  - source: {{alert: ServiceDown}}
    target: {{labels: {{service: web}}}}
    equal: [service]
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{free_port()}/hook"}}
escalation:
  critical:
    - {{after: 0s, notify: [hook]}}
"""


class World:
    """The config, its two ports, and the daemons run on it one after the other."""

    def __init__(self, tmp_path: Path) -> None:
        self.web, self.web_b = Port(), Port()
        self.path = tmp_path / "sentinel.yaml"
        self.path.write_text(config_text(tmp_path, self.web.number, self.web_b.number))
        self.config = load_config(self.path, {})
        self.clock = FakeClock()

    async def seed(self) -> None:
        """An hour of healthy history (a good run a minute up to 5 minutes ago): page-fast
        judges only a covered hour (docs/slos.md)."""
        store = open_store(self.config.storage.url.get_secret_value())
        await store.open()
        now = int(self.clock.now().timestamp() // 60)
        await store.save_slo_minutes(
            [("web-availability", m, 1, 1) for m in range(now - 65, now - 5)]
        )
        await store.close()

    def daemon(self) -> Daemon:
        self.clock = FakeClock(start=self.clock.now())
        return Daemon(self.config, Settings(config=str(self.path)), self.clock, {}, Redactor())


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(tmp_path)
    await w.seed()
    try:
        yield w
    finally:
        await w.web.down()
        await w.web_b.down()
        structlog.reset_defaults()


def firing(d: Daemon, rule: str) -> bool:
    return any(a.rule == rule and a.state.state == "firing" for a in d.rules.active())


async def pages(d: Daemon, rule: str) -> int:
    """Notices queued for the rule's alerts (each step writes an outbox row first)."""
    queued = 0
    for fp in {a.fingerprint for a in d.rules.active() if a.rule == rule}:
        queued += len(await d.store.deliveries_for(fp))
    return queued


async def outage_then_restart(w: World, b_back: bool) -> tuple[Daemon, float]:
    """Both checks down for two minutes (ServiceDown pages, page-fast fires inhibited),
    then ``web`` back (and ``web-b`` when ``b_back``): ServiceDown resolves. A minute
    into the hold the daemon stops and a new one starts on the same store. Returns the
    new daemon (started) and when ServiceDown resolved (unix time)."""
    first = w.daemon()
    start = first.clock.now().timestamp()
    await first.start()
    try:
        await run_daemon_until(first, lambda: firing(first, FAST), 90.0, STEP)
        assert firing(first, "ServiceDown")
        assert await pages(first, "ServiceDown") == 1
        await run_daemon_for(first, start + 120.0 - first.clock.now().timestamp(), STEP)
        await w.web.up()
        if b_back:
            await w.web_b.up()
        await run_daemon_until(first, lambda: not firing(first, "ServiceDown"), 10.0, STEP)
        resolved = first.clock.now().timestamp()
        await run_daemon_for(first, 60.0, STEP)
        assert firing(first, FAST)
        assert await pages(first, FAST) == 0  # held
    finally:
        await first.stop()
    second = w.daemon()
    await second.start()
    assert firing(second, FAST)  # kept in the store
    return second, resolved


async def test_a_hold_survives_a_restart_until_the_pair_resolves(world: World) -> None:
    """The outage is over: after the restart page-fast stays held until its 5m window
    lets go of the outage's failures and it resolves (before the hold ends). Before the
    holds were kept in the store, the new daemon paged for it at once."""
    second, resolved = await outage_then_restart(world, b_back=True)
    try:
        fps = {a.fingerprint for a in second.rules.active() if a.rule == FAST}
        end = resolved + HOLD - second.clock.now().timestamp()
        await run_daemon_until(second, lambda: not firing(second, FAST), end, STEP)
        assert [d for fp in fps for d in await second.store.deliveries_for(fp)] == []
    finally:
        await second.stop()


async def test_a_restored_hold_ends_when_it_would_have(world: World) -> None:
    """``web-b`` stays down: page-fast keeps burning on new failures. After the restart
    it stays held until the hold ends (ServiceDown's resolution + 5m + 1m), then pages."""
    second, resolved = await outage_then_restart(world, b_back=False)
    try:
        until_end = resolved + HOLD - second.clock.now().timestamp()
        await run_daemon_for(second, until_end - 2 * STEP, STEP)
        assert firing(second, FAST)
        assert await pages(second, FAST) == 0
        await run_daemon_until(second, lambda: firing(second, FAST), 6 * STEP, STEP)

        async def paged() -> bool:
            return await pages(second, FAST) > 0

        await run_daemon_until(second, paged, 6 * STEP, STEP)
    finally:
        await second.stop()


def transition(event: Literal["resolved", "firing"], rule: str, at: float) -> Transition:
    state = AlertState("inactive" if event == "resolved" else "firing", at, at, at)
    return Transition(event, Instance(rule, "production-api", (), state), "critical", at)


async def test_the_store_follows_the_resolutions_that_hold() -> None:
    """The example config's shell: ServiceDown's resolution is saved and read back by a
    new shell on the same store; its firing again deletes it (a restart must not hold
    on a resolution that is over); an alert no inhibit rule sources is not kept; rows
    older than the longest hold (ticket's 6h window + 1m) are neither read nor kept."""
    store = SqliteStore(":memory:")
    await store.open()
    try:
        start = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
        at = start.timestamp()
        shell = Shell(store, start)
        holds = shell.alerts.inhibition
        holds.note(transition("resolved", "ServiceDown", at))
        holds.note(transition("resolved", "HighErrorRate", at))  # not an inhibit source
        await holds.save()
        assert [(r[0], r[2]) for r in await store.load_holds(0.0)] == [
            (transition("resolved", "ServiceDown", at).instance.fingerprint, at)
        ]
        later = Shell(store, start + timedelta(minutes=1))
        await later.alerts.inhibition.load()
        held = later.alerts.inhibition.held()
        assert [(labels["alertname"], when, pending) for _, labels, when, pending in held] == [
            ("ServiceDown", at, False)
        ]
        later.alerts.inhibition.note(transition("firing", "ServiceDown", at + 60))
        await later.alerts.inhibition.save()
        assert await store.load_holds(0.0) == []
        holds.note(transition("resolved", "ServiceDown", at - 6 * 3600 - 61))
        await holds.save()  # saved, and pruned in the same transaction
        assert await store.load_holds(0.0) == []
    finally:
        await store.close()


async def test_slo_explain_shows_the_hold_of_the_running_config(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sentinel slo --explain` against the daemon: each pair's hold (its short window
    plus a minute) from the daemon's config, which has an inhibit rule on the SLO's
    checks; the API answers it too."""
    d = world.daemon()
    await d.start()
    try:
        assert d.slo_keeper is not None
        d.slo_keeper.refresh()
        host, port = d.listening[0]
        url = ["-c", str(world.path), "--url", f"http://{host}:{port}"]
        args = ["slo", *url, "--explain", "web-availability"]
        assert await asyncio.to_thread(main, args) == 0
        out = capsys.readouterr().out
        assert re.search(r"^page-fast +1h < 14.4x or 5m < 7.2x +6m after the inhibiting", out, re.M)
        assert re.search(r"^page-slow +6h < 6x or 30m < 3x +31m after the inhibiting", out, re.M)
        assert await asyncio.to_thread(main, [*args, "--json"]) == 0
        pairs = json.loads(capsys.readouterr().out)["alerts"]
        assert [(p["hysteresis"], p["inhibition_hold"]) for p in pairs] == [
            (0.5, "6m"),
            (0.5, "31m"),
            (0.5, "6h1m"),
        ]
    finally:
        await d.stop()


class FailingOnce(SqliteStore):
    """The real store (in memory), whose next ``save_holds`` fails when ``fail`` is set."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.fail = False

    async def save_holds(
        self, saved: Sequence[HoldRow], deleted: Sequence[str], before: float
    ) -> None:
        if self.fail:
            self.fail = False
            raise StoreError("the database went away")
        await super().save_holds(saved, deleted, before)


async def test_a_failed_write_is_made_with_the_next_save() -> None:
    """A write that fails keeps its changes for the next save, unless they changed
    since: the last word on an alert is the one written."""
    store = FailingOnce()
    await store.open()
    try:
        start = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
        at = start.timestamp()
        holds = Shell(store, start).alerts.inhibition
        store.fail = True
        holds.note(transition("resolved", "ServiceDown", at))
        await holds.save()  # logged, not raised
        assert await store.load_holds(0.0) == []
        await holds.save()
        assert [r[2] for r in await store.load_holds(0.0)] == [at]
        store.fail = True
        holds.note(transition("firing", "ServiceDown", at + 10))
        await holds.save()
        holds.note(transition("resolved", "ServiceDown", at + 20))
        await holds.save()  # the resolution at +20 replaces the deletion that failed
        assert [r[2] for r in await store.load_holds(0.0)] == [at + 20]
    finally:
        await store.close()
