"""The REST API against a real daemon on loopback (on a fake clock the test moves; the
HTTP is real): pages, incidents, config, reload."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sentinel.app.daemon import Daemon
from sentinel.clock import FakeClock
from sentinel.config import load_config, secret_values
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from tests.conftest import free_port
from tests.polling import Probe, run_daemon_until

TOKEN = "api-token-5f0c1d2e3b4a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEARTBEATS = 250
WITHIN = 5.0  # fake seconds: a few results, the firing, its incident, the history flushed
SECRETS = {
    "ack": "ack-secret-9a8b7c6d5e4f",
    "hook_url": "https://hooks.example.com/T000/secret-path-31337",
    "hook_secret": "hook-signing-secret-8e7d6c",
    "beat_key": "heartbeat-key-0f1e2d3c",
    "slack": "xoxb-1111-2222-slacksecret",
}


def config_text(tmp_path: Path, dead_port: int, *, heartbeats: int = HEARTBEATS) -> str:
    """A dead TCP port that pages the console, many heartbeats, and a secret in every
    place a config can hold one."""
    beats = "".join(
        f"  - {{name: beat-{n:03d}, type: heartbeat, every: 1d, interval: 1h,"
        f" labels: {{service: {'shop' if n % 2 else 'blog'}}}}}\n"
        for n in range(heartbeats)
    )
    return f"""
server:
  listen: "127.0.0.1:0"
  api_token: "{TOKEN}"
  ack_secret: "{SECRETS["ack"]}"
storage:
  url: "sqlite:{tmp_path}/state.db"
contacts:
  alice: {{email: alice@example.com, phone: "+15550100001"}}
  bob: {{email: bob@example.com}}
oncall:
  primary: {{rotation: [alice, bob], shift: 1w, handoff: "2026-01-05T09:00:00"}}
checks:
  - name: dead
    type: tcp
    target: "127.0.0.1:{dead_port}"
    interval: 200ms
    timeout: 200ms
    labels: {{service: db}}
  - {{name: nightly-backup, type: heartbeat, every: 1d, key: "{SECRETS["beat_key"]}"}}
{beats}
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical}}
channels:
  console: {{type: console}}
  hook: {{type: webhook, url: "{SECRETS["hook_url"]}", secret: "{SECRETS["hook_secret"]}"}}
  chat: {{type: slack, token: "{SECRETS["slack"]}", channel: "#ops"}}
escalation:
  critical:
    - {{after: 0s, notify: [console]}}
maintenance:
  - {{name: nightly, cron: "0 3 * * *", duration: 1h, match: {{service: blog}}}}
"""


async def start_daemon(path: Path) -> Daemon:
    config = load_config(path, {})
    redactor = Redactor()
    redactor.set_secrets(secret_values(config))
    d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, redactor)
    await d.start()
    return d


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, free_port()))
    d = await start_daemon(path)
    yield d
    await d.stop()


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    host, port = daemon.listening[0]
    async with aiohttp.ClientSession(f"http://{host}:{port}") as session:
        yield session


async def get(http: aiohttp.ClientSession, path: str, status: int = 200) -> Any:
    async with http.get(path) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def until(daemon: Daemon, probe: Probe) -> None:
    """Run the daemon on its fake clock until ``probe`` answers true."""
    await run_daemon_until(daemon, probe, WITHIN)


async def first_incident(daemon: Daemon, http: aiohttp.ClientSession) -> dict[str, Any]:
    async def opened() -> bool:
        return bool((await get(http, "/api/v1/incidents"))["total"])

    await until(daemon, opened)
    incident: dict[str, Any] = (await get(http, "/api/v1/incidents"))["items"][0]
    return incident


async def test_checks_page_through_250_with_totals_and_next(
    http: aiohttp.ClientSession,
) -> None:
    """252 checks at limit 100 are 3 pages whose `next` links chain them, in config order."""
    names: list[str] = []
    url: str | None = "/api/v1/checks?limit=100"
    pages = []
    while url is not None:
        body = await get(http, url)
        pages.append((body["total"], body["limit"], body["offset"], len(body["items"])))
        names += [c["name"] for c in body["items"]]
        url = body["next"]
    assert pages == [(252, 100, 0, 100), (252, 100, 100, 100), (252, 100, 200, 52)]
    assert names[:3] == ["dead", "nightly-backup", "beat-000"]
    assert len(set(names)) == 252
    default = await get(http, "/api/v1/checks")
    assert (default["limit"], default["offset"], len(default["items"])) == (100, 0, 100)
    assert default["next"] == "/api/v1/checks?limit=100&offset=100"


async def test_checks_filter_by_service_and_state_and_keep_filters_in_next(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    """?service= picks the label, ?state= the state; `next` carries both filters on."""
    shop = await get(http, "/api/v1/checks?service=shop&limit=50")
    assert shop["total"] == HEARTBEATS // 2
    assert {c["labels"]["service"] for c in shop["items"]} == {"shop"}
    assert shop["next"] == "/api/v1/checks?service=shop&limit=50&offset=50"
    assert (await get(http, shop["next"]))["offset"] == 50

    async def dead_is_down() -> bool:
        return [c["name"] for c in (await get(http, "/api/v1/checks?state=down"))["items"]] == [
            "dead"
        ]

    await until(daemon, dead_is_down)
    down = (await get(http, "/api/v1/checks?state=down&service=db"))["items"][0]
    assert down["error"] == "connection refused"
    assert isinstance(down["duration_seconds"], float)
    assert down["samples"]["up"] == 0


async def test_one_check_has_its_recent_results_newest_first(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    """/checks/{name} adds `recent` from the history; an unknown name is a JSON 404."""

    async def stored() -> bool:
        return len((await get(http, "/api/v1/checks/dead?recent=3"))["recent"]) == 3

    await until(daemon, stored)
    body = await get(http, "/api/v1/checks/dead?recent=3")
    assert body["name"] == "dead"
    assert body["type"] == "tcp"
    recent = body["recent"]
    assert [r["ok"] for r in recent] == [False] * 3
    assert recent[0]["error"] == "connection refused"
    assert recent[0]["samples"]["up"] == 0
    assert recent[0]["started_at"] > recent[1]["started_at"] > recent[2]["started_at"]
    assert await get(http, "/api/v1/checks/nope", 404) == {"error": "no such check"}


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=abc", "limit=1e2", "limit=+5", "offset=-1", "limit="],
)
async def test_bad_paging_is_a_400_with_a_json_error(
    http: aiohttp.ClientSession, query: str
) -> None:
    """A limit outside 1..1000 or an offset that is not a whole number is refused."""
    for path in ("/api/v1/checks", "/api/v1/alerts", "/api/v1/silences", "/api/v1/incidents"):
        body = await get(http, f"{path}?{query}", 400)
        assert body["error"].startswith(("limit must", "offset must"))


async def test_unknown_routes_and_methods_answer_json_errors(http: aiohttp.ClientSession) -> None:
    """Under /api/ even aiohttp's own 404 and 405 are `{"error": ...}`."""
    assert await get(http, "/api/v1/nothing-here", 404) == {"error": "not found"}
    async with http.put("/api/v1/checks") as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET,HEAD"
        assert await resp.json() == {"error": "method not allowed"}


async def test_incident_flow_write_up_timeline_and_export(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    """The dead port opens an incident; PATCH needs the token; the write-up survives the
    journal's next write (ack); the timeline and the Markdown export show everything."""
    incident = await first_incident(daemon, http)
    iid = incident["id"]
    assert incident["state"] == "open"
    assert (incident["rule"], incident["check"], incident["severity"]) == (
        "ServiceDown",
        "dead",
        "critical",
    )
    detail = await get(http, f"/api/v1/incidents/{iid}")
    assert detail["timeline"][0]["kind"] == "fired"

    change = {"root_cause": "The disk filled up.", "note": "restarting", "by": "alice"}
    async with http.patch(f"/api/v1/incidents/{iid}", json=change) as resp:
        assert resp.status == 401
    wrong = {"Authorization": "Bearer nope"}
    async with http.patch(f"/api/v1/incidents/{iid}", json=change, headers=wrong) as resp:
        assert resp.status == 401
    async with http.patch(f"/api/v1/incidents/{iid}", json=change, headers=AUTH) as resp:
        assert resp.status == 200
        patched = await resp.json()
    assert patched["root_cause"] == "The disk filled up."
    assert patched["timeline"][-1]["kind"] == "note"
    assert patched["timeline"][-1]["text"] == "restarting"
    assert patched["timeline"][-1]["detail"] == {"by": "alice"}

    async with http.post(
        f"/api/v1/alerts/{incident['fingerprint'][:8]}/ack", json={"by": "bob"}, headers=AUTH
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["escalation"]["acknowledged_by"] == "bob via api"

    async def acked() -> bool:
        return bool((await get(http, f"/api/v1/incidents/{iid}"))["acked_by"] == "bob via api")

    await until(daemon, acked)
    after = await get(http, f"/api/v1/incidents/{iid}")
    assert after["root_cause"] == "The disk filled up."  # not overwritten by the journal
    assert after["state"] == "acknowledged"
    timeline = await get(http, f"/api/v1/incidents/{iid}/timeline")
    assert timeline["id"] == iid
    kinds = [e["kind"] for e in timeline["timeline"]]
    assert kinds[0] == "fired"
    assert {"note", "acknowledged"} <= set(kinds)

    async with http.get(f"/api/v1/incidents/{iid}/export?format=markdown") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/markdown"
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{iid}.md"'
        markdown = await resp.text()
    assert markdown.startswith(f"# {iid}: ")
    assert "## Root cause\n\nThe disk filled up.\n" in markdown
    assert "note: restarting" in markdown
    assert "- Acknowledged: " in markdown
    assert "by bob" in markdown
    async with http.get(f"/api/v1/incidents/{iid}/export") as resp:
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{iid}.json"'
        assert (await resp.json())["timeline"] == timeline["timeline"]
    await get(http, f"/api/v1/incidents/{iid}/export?format=pdf", 400)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "nothing to change"),
        ({"note": "   "}, "nothing to change"),
        ({"rootcause": "typo"}, "unknown fields: rootcause"),
        ({"root_cause": 42}, "root_cause must be text"),
        ({"root_cause": None}, "root_cause must be text"),
        ({"resolution": "x" * 10_001}, "longer than 10000"),
        ([1, 2], "body must be a JSON object"),
        ("not json", "body must be JSON"),
    ],
)
async def test_incident_patch_refuses_bad_bodies(
    daemon: Daemon, http: aiohttp.ClientSession, body: Any, problem: str
) -> None:
    """Wrong fields, types, lengths or no JSON at all are a 400 that says which."""
    iid = (await first_incident(daemon, http))["id"]
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
    async with http.patch(f"/api/v1/incidents/{iid}", headers=AUTH, **kwargs) as resp:
        assert resp.status == 400
        assert problem in (await resp.json())["error"]


@pytest.mark.parametrize("body", [{}, {"by": "  "}, {"by": 42}, {"by": None}])
async def test_ack_without_who_is_refused(
    daemon: Daemon, http: aiohttp.ClientSession, body: Any
) -> None:
    """An acknowledgement names who acknowledges, as text that is not blank."""
    fingerprint = (await first_incident(daemon, http))["fingerprint"]
    async with http.post(f"/api/v1/alerts/{fingerprint}/ack", json=body, headers=AUTH) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "by (who acknowledges) is required"


async def test_unknown_incidents_are_404_and_since_filters(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    """Unknown ids are 404 everywhere; ?since= in the future finds nothing; a bad one is 400."""
    await first_incident(daemon, http)
    for path in ("", "/timeline", "/export"):
        await get(http, f"/api/v1/incidents/INC-20000101-000000-abcd{path}", 404)
        await get(http, f"/api/v1/incidents/nonsense{path}", 404)
    async with http.patch("/api/v1/incidents/nonsense", json={"note": "x"}, headers=AUTH) as resp:
        assert resp.status == 404
    assert (await get(http, "/api/v1/incidents?since=2000-01-01T00:00:00"))["total"] == 1
    future = await get(http, "/api/v1/incidents?since=2999-01-01T00:00:00%2B02:00")
    assert (future["total"], future["items"], future["next"]) == (0, [], None)
    assert "since must be" in (await get(http, "/api/v1/incidents?since=yesterday", 400))["error"]


async def test_alerts_and_silences_are_pages_and_keep_their_old_keys(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    """Alerts and silences list as pages; `alerts`/`silences` still hold the same list."""
    await first_incident(daemon, http)
    alerts = await get(http, "/api/v1/alerts?state=firing")
    assert alerts["total"] == 1
    assert alerts["alerts"] == alerts["items"]
    fp = alerts["items"][0]["fingerprint"]
    assert (await get(http, f"/api/v1/alerts/{fp[:6]}"))["rule"] == "ServiceDown"
    await get(http, "/api/v1/alerts/zzzzzzzz", 404)
    assert (await get(http, "/api/v1/alerts?state=pending"))["total"] == 0
    await get(http, "/api/v1/alerts?state=asleep", 400)

    body = {"matchers": {"alertname": "ServiceDown"}, "author": "alice", "duration": "1h"}
    for _ in range(3):
        async with http.post("/api/v1/silences", json=body, headers=AUTH) as resp:
            assert resp.status == 201
    listed = await get(http, "/api/v1/silences?limit=2")
    assert (listed["total"], len(listed["items"]), listed["silences"]) == (3, 2, listed["items"])
    assert listed["next"] == "/api/v1/silences?limit=2&offset=2"
    huge = {**body, "duration": "99999999999w"}
    async with http.post("/api/v1/silences", json=huge, headers=AUTH) as resp:
        assert resp.status == 400
    async with http.delete(f"/api/v1/silences/{listed['items'][0]['id']}") as resp:
        assert resp.status == 401


async def test_oncall_maintenance_and_reports(http: aiohttp.ClientSession) -> None:
    """On-call and maintenance list what the config says; reports answer a report or 501."""
    oncall = (await get(http, "/api/v1/oncall"))["items"]
    assert [(s["schedule"], s["timezone"]) for s in oncall] == [("primary", "UTC")]
    assert oncall[0]["on_call"] in ("alice", "bob")
    assert len(oncall[0]["next_handoffs"]) == 3
    windows = (await get(http, "/api/v1/maintenance"))["items"]
    assert [(w["name"], w["match"]) for w in windows] == [("nightly", {"service": "blog"})]
    async with http.get("/api/v1/reports?period=7d") as resp:
        assert resp.status in (200, 501)
        assert isinstance(await resp.json(), dict)
    for bad in ("soon", "0s", "400d"):
        await get(http, f"/api/v1/reports?period={bad}", 400)


async def test_config_shows_no_secret(daemon: Daemon, http: aiohttp.ClientSession) -> None:
    """/api/v1/config needs the token (contacts' details are in it), and every secret
    value of the running config is absent from it."""
    await get(http, "/api/v1/config", 401)
    async with http.get("/api/v1/config", headers=AUTH) as resp:
        assert resp.status == 200
        text = await resp.text()
    secrets = secret_values(daemon.config)
    assert secrets >= {TOKEN, *SECRETS.values()}
    for secret in secrets:
        assert secret not in text
    body = json.loads(text)
    assert body["server"]["api_token"] == "**********"
    assert body["channels"]["hook"]["url"] == "**********"
    assert body["checks"][0]["name"] == "dead"


async def test_reload_keeps_the_running_config_when_the_file_is_bad(
    daemon: Daemon, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """POST /-/reload: 401 without the token, 400 with the problems on a broken file or
    one that is not UTF-8 (old config kept), 200 on a good one (a new check appears),
    then 403 once the new file has no token."""
    path = Path(daemon.settings.config)
    good = path.read_text()
    async with http.post("/-/reload") as resp:
        assert resp.status == 401
    path.write_text(good.replace("type: tcp", "type: tcp\n    bogus: 1", 1))
    async with http.post("/-/reload", headers=AUTH) as resp:
        assert resp.status == 400
        answer = await resp.json()
    assert answer["reloaded"] is False
    assert "running config is kept" in answer["error"]
    assert any("unknown key 'bogus'" in p for p in answer["problems"])
    path.write_bytes(good.encode() + b"# \xff\xfe\n")
    async with http.post("/-/reload", headers=AUTH) as resp:
        assert resp.status == 400
        problems = (await resp.json())["problems"]
    assert len(problems) == 1
    assert problems[0].startswith(str(path))
    assert (await get(http, "/api/v1/checks?limit=1"))["total"] == 252

    path.write_text(
        good.replace("checks:\n", "checks:\n  - {name: extra, type: heartbeat, every: 1d}\n")
    )
    async with http.post("/-/reload", headers=AUTH) as resp:
        assert resp.status == 200
        assert await resp.json() == {"reloaded": True}
    assert (await get(http, "/api/v1/checks/extra"))["state"] in ("pending", "up")

    path.write_text(good.replace(f'  api_token: "{TOKEN}"\n', ""))
    async with http.post("/-/reload", headers=AUTH) as resp:
        assert resp.status == 200
    async with http.post("/-/reload", headers=AUTH) as resp:
        assert resp.status == 403
        assert "api_token" in (await resp.json())["error"]


async def test_openapi_document_lists_every_api_route(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    """Every /api/v1 and /-/ route the app serves is in its own OpenAPI document."""
    doc = await get(http, "/api/v1/openapi.json")
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert daemon._web is not None
    served = {
        (route.resource.canonical, route.method)
        for route in daemon._web.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(("/api/", "/-/", "/ack/"))
        and route.method != "HEAD"
    }
    assert served <= documented, served - documented


# Served but not in the API document: the status page and its form, and the heartbeat
# pings (plain text, described in docs/heartbeats.md).
UNDOCUMENTED = {
    ("GET", "/"),
    ("GET", "/public"),
    ("POST", "/ui/alerts/{id}/ack"),
    ("POST", "/ui/incidents/{id}/updates"),
    *(
        (method, "/ping/{name}" + end)
        for method in ("GET", "POST")
        for end in ("", "/start", "/fail")
    ),
}


async def test_the_router_and_the_openapi_document_hold_the_same_routes(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    """Every route the app serves is documented (but the page and the pings), and every
    documented operation is served: the route table cannot drift from the router."""
    doc = await get(http, "/api/v1/openapi.json")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert daemon._web is not None
    served = {
        (route.method, route.resource.canonical)
        for route in daemon._web.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert served >= UNDOCUMENTED
    assert served - UNDOCUMENTED == documented, (served - UNDOCUMENTED) ^ documented
