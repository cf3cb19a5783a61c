"""Inbound alerts against a real daemon on loopback, paging a webhook fake: auth,
limits, malformed bodies, idempotent intake, resolves, Events v2, restarts."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from sentinel.app.daemon import Daemon
from tests.notify.fakes import Receiver
from tests.polling import eventually
from tests.sources.daemon import (
    API_TOKEN,
    BASIC,
    BEARER,
    GRAFANA_PASSWORD,
    ROUTING_KEY,
    TOKEN,
    config_text,
    start_daemon,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
AM = "/api/v1/sources/alertmanager/prom"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as fake:
        yield fake


@pytest.fixture
async def daemon(tmp_path: Path, receiver: Receiver) -> AsyncIterator[Daemon]:
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, f"{receiver.url}/hooks/main"))
    d = await start_daemon(path)
    yield d
    await d.stop()


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    host, port = daemon.listening[0]
    async with aiohttp.ClientSession(f"http://{host}:{port}") as session:
        yield session


async def post(
    http: aiohttp.ClientSession, path: str, body: Any, status: int, **headers: str
) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(
        path, data=data, headers={"Content-Type": "application/json", **headers}
    ) as resp:
        text = await resp.text()
        assert resp.status == status, text
        return json.loads(text) if text.startswith("{") else text


def kinds(receiver: Receiver, hook: str = "main") -> list[tuple[str, str]]:
    return [
        (r.json["kind"], r.json["alert"]["labels"].get("instance", ""))
        for r in receiver.accepted
        if r.path == f"/hooks/{hook}" and r.json.get("alert")
    ]


async def metric(http: aiohttp.ClientSession, line: str) -> float:
    async with http.get("/metrics") as resp:
        text = await resp.text()
    found = [row for row in text.splitlines() if row.startswith(line + " ")]
    return float(found[0].split()[-1]) if found else 0.0


async def test_alertmanager_group_pages_each_alert_once_and_resolves(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """Two alerts in one group are two pages; the same group resent (HA duplicate,
    repeat_interval) pages nobody again; the resolve resolves the one it names, and
    summary, description, runbook and generatorURL reach the notice."""
    group = fixture("alertmanager_firing.json")
    answer = await post(http, AM, group, 200, **BEARER)
    assert answer == {"status": "success", "alerts": {"fired": 2}}
    await eventually(lambda: len(kinds(receiver)) == 2)
    firing = next(r.json for r in receiver.accepted if "api-1" in json.dumps(r.json["alert"]))
    assert firing["alert"]["summary"] == "High error rate on api"
    assert "5xx ratio is 12% on api-1:8080" in firing["alert"]["description"]
    assert "http://prometheus.example.com:9090/graph" in firing["message"]
    assert "https://runbooks.example.com/HighErrorRate" in firing["message"]
    assert firing["alert"]["runbook"] == "https://runbooks.example.com/HighErrorRate"
    assert firing["alert"]["check"] == "prom"

    for _ in range(3):
        assert (await post(http, AM, group, 200, **BEARER))["alerts"] == {"repeated": 2}
    await post(http, AM, fixture("alertmanager_resolved.json"), 200, **BEARER)
    await eventually(lambda: ("resolved", "api-1:8080") in kinds(receiver))
    status = await (await http.get("/api/v1/alerts")).json()
    (left,) = status["items"]
    assert left["source"] == "prom"
    assert left["labels"]["instance"] == "api-2:8080"
    assert sorted(k for k, _ in kinds(receiver)).count("firing") == 2
    incidents = (await (await http.get("/api/v1/incidents")).json())["items"]
    assert len(incidents) == 2  # one per alert, as for sentinel's own
    assert await metric(http, 'sentinel_source_alerts_total{outcome="repeated",source="prom"}') == 6


async def test_out_of_order_resolve_does_not_flap(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """A resolve of an earlier episode arriving after the new firing changes nothing."""
    group = fixture("alertmanager_firing.json")
    group["alerts"] = group["alerts"][:1]
    group["alerts"][0]["startsAt"] = "2026-01-05T10:00:00Z"
    await post(http, AM, group, 200, **BEARER)
    old = fixture("alertmanager_resolved.json")  # started 09:00, ended 09:10
    assert (await post(http, AM, old, 200, **BEARER))["alerts"] == {"stale": 1}
    alerts = (await (await http.get("/api/v1/alerts")).json())["items"]
    assert [a["state"] for a in alerts] == ["firing"]
    await eventually(lambda: len(kinds(receiver)) >= 1)
    assert [k for k, _ in kinds(receiver)] == ["firing"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "auth"),
        ({"Authorization": "Bearer wrong"}, "auth"),
        ({"Authorization": f"Basic {TOKEN}"}, "auth"),
    ],
)
async def test_wrong_credentials_are_401_and_counted(
    http: aiohttp.ClientSession, headers: dict[str, str], reason: str
) -> None:
    answer = await post(http, AM, fixture("alertmanager_firing.json"), 401, **headers)
    assert TOKEN not in json.dumps(answer)
    assert (
        await metric(http, f'sentinel_source_refusals_total{{reason="{reason}",source="prom"}}')
        == 1
    )
    assert (await (await http.get("/api/v1/alerts")).json())["items"] == []


async def test_malformed_oversized_and_unknown_are_refused_never_500(
    http: aiohttp.ClientSession,
) -> None:
    """400 names the field; 413 before parsing (declared or streamed, gzip undone
    first); 404 for a source that does not exist; every refusal counted."""
    bad = (FIXTURES / "alertmanager_malformed.json").read_bytes()
    answer = await post(http, AM, bad, 400, **BEARER)
    assert "alerts.0.labels.a" in answer["error"]
    await post(http, AM, b"{", 400, **BEARER)
    big = json.dumps({"status": "firing", "alerts": [], "pad": "x" * 70_000}).encode()
    await post(http, AM, big, 413, **BEARER)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 10_000  # no Content-Length: refused while read

    async with http.post(AM, data=chunks(), headers=BEARER) as resp:
        assert resp.status == 413
    zipped = gzip.compress(big)  # small on the wire, over the limit once decoded
    async with http.post(AM, data=zipped, headers={**BEARER, "Content-Encoding": "gzip"}) as resp:
        assert resp.status == 413
    await post(http, "/api/v1/sources/alertmanager/nope", {}, 404, **BEARER)
    await post(http, "/api/v1/sources/grafana/prom", {}, 404, **BEARER)
    assert (
        await metric(http, 'sentinel_source_refusals_total{reason="malformed",source="prom"}') == 2
    )
    assert (
        await metric(http, 'sentinel_source_refusals_total{reason="too_large",source="prom"}') == 3
    )
    assert (
        await metric(
            http, 'sentinel_source_refusals_total{reason="unknown_source",source="unknown"}'
        )
        == 2
    )


async def test_grafana_with_basic_auth(http: aiohttp.ClientSession, receiver: Receiver) -> None:
    path = "/api/v1/sources/grafana/grafana"
    await post(http, path, fixture("grafana_firing.json"), 401, Authorization="Basic Zm9vOmJhcg==")
    assert (await post(http, path, fixture("grafana_firing.json"), 200, Authorization=BASIC))[
        "alerts"
    ] == {"fired": 2}
    await eventually(lambda: len(receiver.accepted) == 2)
    await post(http, path, fixture("grafana_resolved.json"), 200, Authorization=BASIC)
    await eventually(lambda: [r.json["kind"] for r in receiver.accepted].count("resolved") == 1)
    assert GRAFANA_PASSWORD not in json.dumps([r.json for r in receiver.accepted])


async def test_routes_send_matching_alerts_to_their_policy(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    group = fixture("alertmanager_firing.json")
    group["alerts"][0]["labels"]["team"] = "db"
    group["alerts"] = group["alerts"][:1]
    await post(http, AM, group, 200, **BEARER)
    await eventually(lambda: len(kinds(receiver, "dba")) == 1)
    assert kinds(receiver, "main") == []


async def test_events_v2_trigger_acknowledge_resolve(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """PagerDuty's paths and answers: 202 with the dedup_key; acknowledge stops the
    escalation; resolve resolves; a wrong routing key is refused."""
    event = fixture("events_trigger.json")
    event["routing_key"] = ROUTING_KEY
    base = "/api/v1/sources/events/sentry"
    answer = await post(http, base + "/v2/enqueue", event, 202)
    assert answer == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "samplekeyhere",
    }
    await post(http, "/v2/enqueue", event, 202)  # the routing key alone picks the source
    await eventually(lambda: len(receiver.accepted) == 1)
    ack = {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "samplekeyhere"}
    await post(http, base + "/v2/enqueue", ack, 202)
    alerts = (await (await http.get("/api/v1/alerts")).json())["items"]
    assert alerts[0]["escalation"]["acknowledged_by"] == "sentry via events"
    resolve = {**ack, "event_action": "resolve"}
    await post(http, base + "/v2/enqueue", resolve, 202)
    assert (await (await http.get("/api/v1/alerts")).json())["items"] == []

    wrong = {**event, "routing_key": "not-the-key"}
    answer = await post(http, base + "/v2/enqueue", wrong, 401)
    assert answer["status"] == "invalid event"
    assert ROUTING_KEY not in json.dumps(answer)
    invalid = await post(http, base + "/v2/enqueue", {"routing_key": ROUTING_KEY}, 400)
    assert invalid["message"] == "Event object is invalid"
    assert invalid["errors"]


async def test_sources_show_when_they_last_spoke(http: aiohttp.ClientSession) -> None:
    before = (await (await http.get("/api/v1/sources")).json())["sources"]
    assert {s["name"]: s["last_spoke"] for s in before} == {
        "prom": None,
        "grafana": None,
        "sentry": None,
    }
    await post(http, AM, fixture("alertmanager_firing.json"), 200, **BEARER)
    after = {s["name"]: s for s in (await (await http.get("/api/v1/sources")).json())["sources"]}
    assert after["prom"]["last_spoke"] is not None
    assert after["prom"]["open_alerts"] == 2
    status = await (await http.get("/api/v1/status")).json()
    assert {s["name"] for s in status["sources"]} == {"prom", "grafana", "sentry"}
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with http.get("/api/v1/config", headers=auth) as resp:
        shown = await resp.text()
    assert resp.status == 200
    assert "prom" in shown
    assert not [s for s in (TOKEN, GRAFANA_PASSWORD, ROUTING_KEY) if s in shown]
    async with http.get("/") as page:
        html = await page.text()
    assert "prom" in html
    assert "last spoke" in html.lower()


async def test_silences_keep_inbound_alerts_quiet(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    silence = {
        "matchers": {"source": "prom", "instance": "api-1:8080"},
        "duration": "1h",
        "author": "alice",
        "comment": "deploy",
    }
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with http.post("/api/v1/silences", json=silence, headers=auth) as resp:
        assert resp.status in (200, 201), await resp.text()
    await post(http, AM, fixture("alertmanager_firing.json"), 200, **BEARER)
    await eventually(lambda: len(kinds(receiver)) == 1)
    assert kinds(receiver) == [("firing", "api-2:8080")]


async def test_inbound_alerts_survive_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    """Stored, restored with their text; the repeated group after the restart pages
    nobody again, and the resolve still resolves."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, f"{receiver.url}/hooks/main"))
    group = fixture("alertmanager_firing.json")
    first = await start_daemon(path)
    host, port = first.listening[0]
    async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
        await post(http, AM, group, 200, **BEARER)
        await eventually(lambda: len(kinds(receiver)) == 2)
    await first.stop()
    second = await start_daemon(path)
    try:
        host, port = second.listening[0]
        async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
            alerts = (await (await http.get("/api/v1/alerts")).json())["items"]
            assert sorted(a["labels"]["instance"] for a in alerts) == ["api-1:8080", "api-2:8080"]
            assert all(a["source"] == "prom" for a in alerts)
            with capture_logs() as logs:
                assert (await post(http, AM, group, 200, **BEARER))["alerts"] == {"repeated": 2}
            assert not [e for e in logs if e["event"] == "alert_firing"]
            await post(http, AM, fixture("alertmanager_resolved.json"), 200, **BEARER)
            await eventually(lambda: ("resolved", "api-1:8080") in kinds(receiver))
            resolved = next(r.json for r in receiver.accepted if r.json["kind"] == "resolved")
            assert resolved["alert"]["summary"] == "High error rate on api"
    finally:
        await second.stop()
    assert [k for k, _ in kinds(receiver)].count("firing") == 2


async def test_events_at_the_root_without_an_events_source_is_404(
    tmp_path: Path, receiver: Receiver
) -> None:
    """No events source configured: /v2/enqueue is 404 whatever the body (it was 413)."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, f"{receiver.url}/hooks/main", events=False))
    d = await start_daemon(path)
    try:
        assert [s.type for s in d.config.sources] == ["alertmanager", "grafana"]
        host, port = d.listening[0]
        async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
            await post(http, "/v2/enqueue", b"\x00", 404)
            await post(http, "/api/v1/sources/events/sentry/v2/enqueue", {}, 404)
    finally:
        await d.stop()


async def test_a_flapping_inbound_alert_stops_paging(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """Fire and resolve three times: one flapping notice, and the fourth firing pages
    nobody (as a flapping rule's alert)."""
    for n in range(4):
        group = fixture("alertmanager_firing.json")
        group["alerts"] = group["alerts"][:1]
        group["alerts"][0]["startsAt"] = f"2026-01-05T1{n}:00:00Z"
        await post(http, AM, group, 200, **BEARER)
        if n == 3:
            break

        def paged(n: int = n) -> bool:
            return [k for k, _ in kinds(receiver)].count("firing") == n + 1

        await eventually(paged)
        gone = fixture("alertmanager_resolved.json")
        gone["alerts"][0]["startsAt"] = f"2026-01-05T1{n}:00:00Z"
        gone["alerts"][0]["endsAt"] = f"2026-01-05T1{n}:05:00Z"
        await post(http, AM, gone, 200, **BEARER)
    await eventually(lambda: "flapping" in [r.json["kind"] for r in receiver.accepted])
    alerts = (await (await http.get("/api/v1/alerts")).json())["items"]
    assert alerts[0]["flapping"] is True
    await asyncio.sleep(1.5)  # an escalation tick or so: a page would have been sent
    assert [k for k, _ in kinds(receiver)].count("firing") == 3


async def test_fired_and_resolved_in_one_group_is_not_kept(
    tmp_path: Path, daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    """The same alert firing and then resolved within one payload ends resolved, in
    memory and in the store (a restart does not bring it back)."""
    group = fixture("alertmanager_firing.json")
    first = group["alerts"][0]
    gone = {**first, "status": "resolved", "endsAt": "2026-01-05T09:10:00Z"}
    group["alerts"] = [first, gone]
    assert (await post(http, AM, group, 200, **BEARER))["alerts"] == {"fired": 1, "resolved": 1}
    assert (await (await http.get("/api/v1/alerts")).json())["items"] == []
    assert await daemon.store.load_alerts() == []
