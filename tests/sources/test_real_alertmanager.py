"""A real Alertmanager (Debian's prometheus-alertmanager) on loopback, running
deploy/prometheus/alertmanager.yml with its URL, token file and timings made short,
pages through a real `sentinel run` process to a webhook fake: a firing alert
escalates through sentinel's steps, the repeated group pages nobody again, two
alerts in one group are two alerts, and the resolved notification resolves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.conftest import free_port
from tests.notify.fakes import Receiver
from tests.polling import eventually
from tests.services import system_tool
from tests.sources.daemon import TOKEN, config_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "prometheus" / "alertmanager.yml"


def test_the_example_is_valid_for_amtool() -> None:
    amtool = system_tool("amtool", "prometheus-alertmanager")
    proc = subprocess.run(
        [amtool, "check-config", str(EXAMPLE)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def alertmanager_config(tmp_path: Path, sentinel_port: int) -> Path:
    """The example, pointed at this sentinel, with timings a test can wait for."""
    config: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    token_file = tmp_path / "sentinel-token"
    token_file.write_text(TOKEN)
    hook = config["receivers"][0]["webhook_configs"][0]
    assert hook["url"].endswith("/api/v1/sources/alertmanager/prometheus")
    hook["url"] = f"http://127.0.0.1:{sentinel_port}/api/v1/sources/alertmanager/prom"
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    config["route"].update(group_wait="200ms", group_interval="1s", repeat_interval="2s")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


async def process(*args: str, log: Path, env: dict[str, str] | None = None) -> Any:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *args, stdout=out, stderr=out, env=env or dict(os.environ)
        )


async def stop(proc: Any) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as fake:
        yield fake


def alert(instance: str, ends: datetime) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": "HighErrorRate", "severity": "critical", "instance": instance},
        "annotations": {
            "summary": f"High error rate on {instance}",
            "runbook_url": "https://runbooks.example.com/HighErrorRate",
        },
        "startsAt": (now - timedelta(seconds=5)).isoformat(),
        "endsAt": ends.isoformat(),
        "generatorURL": "http://prometheus.example.com/graph?g0.expr=up",
    }


def pages(receiver: Receiver) -> list[tuple[str, str]]:
    return [
        (r.json["kind"], r.json["alert"]["labels"]["instance"])
        for r in receiver.accepted
        if r.json.get("alert")
    ]


async def test_real_alertmanager_pages_through_sentinel(tmp_path: Path, receiver: Receiver) -> None:
    binary = system_tool("prometheus-alertmanager", "prometheus-alertmanager")
    port, am_port = free_port(), free_port()
    sentinel_yaml = tmp_path / "sentinel.yaml"
    sentinel_yaml.write_text(
        config_text(tmp_path, f"{receiver.url}/hooks/main", listen=f"127.0.0.1:{port}")
    )
    sentinel = await process(
        sys.executable, "-m", "sentinel", "run", "-c", str(sentinel_yaml),
        log=tmp_path / "sentinel.log",
    )  # fmt: skip
    am = await process(
        binary,
        f"--config.file={alertmanager_config(tmp_path, port)}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
        log=tmp_path / "alertmanager.log",
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def up(url: str) -> bool:
                try:
                    async with http.get(url) as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(lambda: up(f"http://127.0.0.1:{port}/health"), 30)
            await eventually(lambda: up(f"http://127.0.0.1:{am_port}/-/ready"), 30)
            api = f"http://127.0.0.1:{am_port}/api/v2/alerts"
            later = datetime.now(UTC) + timedelta(minutes=10)
            async with http.post(api, json=[alert("api-1", later), alert("api-2", later)]) as r:
                assert r.status == 200, await r.text()

            # Two alerts in one group: two pages; then the second step (after 2s) of each.
            await eventually(lambda: sorted(pages(receiver)).count(("firing", "api-1")) == 1, 30)
            await eventually(lambda: len([p for p in pages(receiver) if p[0] == "firing"]) == 2)
            await eventually(
                lambda: {i for k, i in pages(receiver) if k == "escalation"} == {"api-1", "api-2"},
                30,
            )
            first = next(r.json for r in receiver.accepted if r.json["kind"] == "firing")
            assert first["alert"]["summary"].startswith("High error rate on api-")
            assert "http://prometheus.example.com/graph" in first["message"]

            # Alertmanager resends the group every 2s: sentinel counts the repeats and
            # pages nobody for them.
            async def repeated() -> bool:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    text = await resp.text()
                rows = [
                    line for line in text.splitlines()
                    if line.startswith('sentinel_source_alerts_total{outcome="repeated",source="prom"}')
                ]  # fmt: skip
                return bool(rows) and float(rows[0].split()[-1]) >= 4

            await eventually(repeated, 30)
            assert [k for k, _ in pages(receiver)].count("firing") == 2

            # The end of api-1: Alertmanager sends it resolved; sentinel resolves it.
            async with http.post(api, json=[alert("api-1", datetime.now(UTC))]) as r:
                assert r.status == 200
            await eventually(lambda: ("resolved", "api-1") in pages(receiver), 30)
            async with http.get(f"http://127.0.0.1:{port}/api/v1/alerts") as resp:
                items = (await resp.json())["items"]
            assert [(a["source"], a["labels"]["instance"]) for a in items] == [("prom", "api-2")]
            assert ("resolved", "api-2") not in pages(receiver)
    finally:
        await stop(am)
        await stop(sentinel)
    log = (tmp_path / "sentinel.log").read_text()
    assert TOKEN not in log
    assert json.dumps(TOKEN) not in json.dumps([r.json for r in receiver.accepted])
