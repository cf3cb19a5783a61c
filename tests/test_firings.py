"""One firing of an alert, through the whole daemon on loopback (on a fake clock the
test moves; the HTTP is real): its labels reach every notification and the API, and
an ack link belongs to the outage it was sent for, never to a later outage of the
same alert."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
import yaml

from sentinel.app.daemon import Daemon
from sentinel.clock import FakeClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from tests.conftest import free_port
from tests.notify.fakes import PagerDuty, Receiver
from tests.polling import run_daemon_for, run_daemon_until
from tests.test_delivery import config_text as delivery_config

ALERT_LABELS = {
    "alertname": "ServiceDown",
    "check": "api-port",
    "severity": "critical",
    "service": "api",
    "team": "sre",  # the rule's team wins over the check's
    "tier": "1",
}
WITHIN = 5.0  # fake seconds: a result, the firing (or resolution) and its notices


def config_text(tmp_path: Path, target: int, pd_url: str, hook_url: str) -> str:
    """test_delivery's daemon, its check on ``target`` with labels, the rule with labels
    of its own, and a webhook beside PagerDuty."""
    config = yaml.safe_load(delivery_config(tmp_path, free_port(), pd_url))
    config["checks"][0].update(
        name="api-port", target=f"127.0.0.1:{target}", labels={"service": "api", "team": "payments"}
    )
    config["rules"][0]["labels"] = {"team": "sre", "tier": "1"}
    config["channels"]["hook"] = {"type": "webhook", "url": f"{hook_url}/hooks/t"}
    config["escalation"]["critical"][0]["notify"] = ["pagerduty", "hook"]
    return str(yaml.safe_dump(config))


class Port:
    """The checked TCP port: closed (the check fails) until :meth:`up`."""

    def __init__(self) -> None:
        self.number = free_port()
        self._server: asyncio.Server | None = None

    async def up(self) -> None:
        async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        self._server = await asyncio.start_server(answer, "127.0.0.1", self.number)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Daemon, PagerDuty, Receiver, Port]]:
    port = Port()
    async with PagerDuty() as pd, Receiver() as hook:
        path = tmp_path / "sentinel.yaml"
        path.write_text(config_text(tmp_path, port.number, pd.url, hook.url))
        config = load_config(path, {})
        d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, Redactor())
        await d.start()
        try:
            yield d, pd, hook, port
        finally:
            await d.stop()
            await port.down()
            structlog.reset_defaults()


def events(pd: PagerDuty, action: str) -> list[dict[str, Any]]:
    return [r.json for r in pd.accepted if r.json["event_action"] == action]


def ack_link(event: dict[str, Any]) -> str:
    return next(str(link["href"]) for link in event["links"] if "/ack/" in str(link["href"]))


async def test_labels_reach_the_webhook_pagerduty_and_the_api(
    world: tuple[Daemon, PagerDuty, Receiver, Port],
) -> None:
    """The check's labels merged with the rule's (the rule wins), with alertname, check
    and severity: in the webhook's JSON, PagerDuty's custom_details and the API."""
    daemon, pd, hook, _ = world
    await run_daemon_until(
        daemon, lambda: len(hook.accepted) == 1 and len(events(pd, "trigger")) == 1, WITHIN
    )
    assert hook.accepted[0].json["alert"]["labels"] == ALERT_LABELS
    details = events(pd, "trigger")[0]["payload"]["custom_details"]
    assert details["labels"] == ALERT_LABELS
    host, port = daemon.listening[0]
    async with (
        aiohttp.ClientSession(f"http://{host}:{port}") as http,
        http.get("/api/v1/alerts") as resp,
    ):
        body = await resp.json()
    assert [a["labels"] for a in body["items"]] == [ALERT_LABELS]


async def test_ack_link_of_an_earlier_outage_does_not_ack_the_next(
    world: tuple[Daemon, PagerDuty, Receiver, Port],
) -> None:
    """Outage 1 pages with link 1 and resolves; outage 2 of the same alert pages with
    link 2. Link 1, still inside its TTL, says its outage is over (GET and POST) and
    acknowledges nothing; link 2 acknowledges outage 2."""
    daemon, pd, _, port = world
    await run_daemon_until(daemon, lambda: len(events(pd, "trigger")) == 1, WITHIN)
    first = ack_link(events(pd, "trigger")[0])
    await port.up()
    await run_daemon_until(daemon, lambda: len(events(pd, "resolve")) == 1, WITHIN)
    await port.down()
    await run_daemon_until(daemon, lambda: len(events(pd, "trigger")) == 2, WITHIN)
    second = ack_link(events(pd, "trigger")[1])
    assert first != second
    fp = str(events(pd, "trigger")[1]["dedup_key"])
    async with aiohttp.ClientSession() as http:
        async with http.get(first) as resp:
            assert resp.status == 410
            assert "earlier outage of this alert, which is over" in await resp.text()
        async with http.post(first, data={"by": "mallory"}) as resp:
            assert resp.status == 410
        await run_daemon_for(daemon, 0.5)
        assert pd.incidents[fp] == "triggered"
        assert events(pd, "acknowledge") == []
        async with http.post(second, data={"by": "bob"}) as resp:
            assert resp.status == 200
            assert "Acknowledged by bob" in await resp.text()
    await run_daemon_until(daemon, lambda: pd.incidents.get(fp) == "acknowledged", WITHIN)
