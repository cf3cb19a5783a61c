"""Review of answers that reach a member other than the one escalating the alert
(docs/scaling.md: "an acknowledgement that reached another replica (its API, an ack
link, a phone keypress) is seen within a second"): two members in this process on
this run's PostgreSQL, an Alertmanager alert taken by member A (so A escalates it),
and the answers a load balancer may hand to member B."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from sentinel.app.daemon import Daemon
from sentinel.clock import SystemClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from sentinel.notify.acklink import make_token
from sentinel.sources.external import external_fingerprint
from tests.cluster.test_review_sources import AM_TOKEN, config_text
from tests.web.test_page import base_url

WAIT = 60.0  # seconds any condition may take on a busy 2-core machine


async def start(tmp_path: Path, url: str, mid: str) -> Daemon:
    path = tmp_path / f"{mid}.yaml"
    path.write_text(config_text(url))
    config = load_config(path, {})
    settings = Settings(config=str(path), member_id=mid, location="loc", cluster_lease=6.0)
    daemon = Daemon(config, settings, SystemClock(), {}, Redactor())
    await daemon.start()
    return daemon


async def until(check: Callable[[], Any], seconds: float = WAIT) -> None:
    for _ in range(int(seconds / 0.2)):
        if check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached in time")


@pytest.fixture
async def pair(tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[Daemon, Daemon]]:
    started: list[Daemon] = []
    try:
        for mid in ("m-a", "m-b"):
            started.append(await start(tmp_path, postgres_url, mid))
        yield started[0], started[1]
    finally:
        for d in reversed(started):
            await d.stop()
        structlog.reset_defaults()


async def fire_on(daemon: Daemon) -> str:
    alert = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "severity": "critical"},
        "fingerprint": "fp-disk",
    }
    body = json.dumps({"status": "firing", "alerts": [alert]}).encode()
    async with (
        aiohttp.ClientSession(base_url(daemon)) as http,
        http.post(
            "/api/v1/sources/alertmanager/prom",
            data=body,
            headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
    return external_fingerprint("prom", "fp-disk")


async def escalated_by_a(pair: tuple[Daemon, Daemon]) -> tuple[str, str]:
    """The alert's fingerprint and firing, once A escalates it and B knows of it."""
    a, b = pair
    await until(lambda: all(len(d.node.membership.live()) == 2 for d in pair))
    fp = await fire_on(a)
    await until(lambda: fp in a.escalator.facts and fp in a.escalator.progress)
    await until(lambda: b.facade.find_alert(fp) == fp)  # B's heartbeat-time read of the alerts
    assert fp not in b.escalator.progress  # B does not escalate it
    return fp, a.escalator.facts[fp].firing


async def test_an_ack_by_id_through_the_other_member_stops_the_escalation(
    pair: tuple[Daemon, Daemon],
) -> None:
    """The API's ack (by id) on B reaches A's escalation, as documented. B read the
    stored alert back as a plain instance and keyed it by the hash of its stored
    labels, not by its id (its source's and key's): B never found the alert (404 to
    the ack, the alert's page, an ack link), however long one waited."""
    a, b = pair
    fp, _ = await escalated_by_a(pair)
    shown = b.facade.alert(fp)
    assert shown is not None
    assert shown["fingerprint"] == fp
    assert not any(k.startswith("__") for k in shown["labels"])
    done = await b.facade.acknowledge(fp, "alice", "api")
    assert done is not None
    await until(lambda: (p := a.escalator.progress.get(fp)) is not None and p.acked)


async def test_a_slack_button_through_the_other_member_acknowledges(
    pair: tuple[Daemon, Daemon],
) -> None:
    """A Slack button (and an SMS reply code) names the alert and its firing and goes
    through ``answer``; on B, which does not escalate the alert, it answered "gone"
    (the clicker is told the outage is over) and the escalation went on paging."""
    a, b = pair
    fp, firing = await escalated_by_a(pair)
    answered = await b.facade.answer(fp, firing, "alice", "slack")
    assert answered.outcome == "acked", answered
    await until(lambda: (p := a.escalator.progress.get(fp)) is not None and p.acked)


async def test_an_sms_ack_by_id_through_the_other_member_acknowledges(
    pair: tuple[Daemon, Daemon],
) -> None:
    """An SMS reply "ACK <id>" (Twilio's webhook reaches whichever member the load
    balancer picks) goes through ``answer_ref``: on B, which does not escalate the
    alert, it read B's memory and answered "gone" while A went on paging."""
    a, b = pair
    fp, _ = await escalated_by_a(pair)
    answered = await b.facade.answer_ref(fp, "alice", "sms")
    assert answered.outcome == "acked", answered
    await until(lambda: (p := a.escalator.progress.get(fp)) is not None and p.acked)
    assert await b.facade.texted("+15550100") == []  # nothing texted: no codes, no error


async def test_an_ack_through_the_other_member_before_its_heartbeat_read_the_alert(
    pair: tuple[Daemon, Daemon],
) -> None:
    """An ack by id reaching B a moment after A took the alert, before B's heartbeat read
    every member's alerts (or right after B was back from a cut from the store, as in
    test_failover's cut-off member): B acknowledged it through the stored escalation
    but answered 404 "no such escalating alert", since it looked the alert up only in
    what its last heartbeat read. It now reads the alerts again when it knows none."""
    a, b = pair
    await until(lambda: all(len(d.node.membership.live()) == 2 for d in pair))
    fp = await fire_on(a)
    await until(lambda: fp in a.escalator.progress)
    done = await b.facade.acknowledge(fp, "alice", "api")
    assert done is not None
    assert done["fingerprint"] == fp
    await until(lambda: (p := a.escalator.progress.get(fp)) is not None and p.acked)
    assert await b.facade.acknowledge("ffffff" + fp[6:], "alice", "api") is None


async def test_an_ack_link_through_the_other_member_before_its_heartbeat_read_the_alert(
    pair: tuple[Daemon, Daemon],
) -> None:
    """An ack link (from the page A sent) opened on B before B's heartbeat read the
    alert: B said the link was "over" (no firing known to check it against) while A
    went on paging. B now reads the alerts again for a signed link it cannot place; a
    link with a bad signature reads nothing."""
    a, b = pair
    await until(lambda: all(len(d.node.membership.live()) == 2 for d in pair))
    fp = await fire_on(a)
    await until(lambda: fp in a.escalator.progress)
    inst = a.facade.alert(fp)
    assert inst is not None
    fired = next(i for i in a.rules.active() if i.fingerprint == fp).state.fired_at
    key = a.alerts.ack_key
    assert key == b.alerts.ack_key
    token = make_token(fp, fired, time.time() + 3600, key)
    assert await b.facade.check_ack_link(fp, token) is True
    forged = make_token(fp, fired, time.time() + 3600, b"not the key")
    assert await b.facade.check_ack_link(fp, forged) == "bad signature"
