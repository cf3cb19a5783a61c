"""Incident status updates through a real daemon on loopback (issue 20): the API route
(token required), and ``sentinel incident update|show|list`` against it."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
import structlog

from sentinel.app.daemon import Daemon
from sentinel.cli.main import main
from sentinel.logs import Redactor, configure
from tests.notify.fakes import SendGrid, Twilio
from tests.polling import eventually
from tests.web import test_hostile_clients as hostile
from tests.web.test_hostile_clients import AUTH, EMAIL, ENV, LEAD, TOKEN, base, client, notified

fakes, daemon = hostile.fakes, hostile.daemon  # a real daemon with SendGrid and Twilio fakes


def mails_to(sg: SendGrid, address: str) -> list[dict[str, object]]:
    return [
        r.json for r in sg.accepted if r.json["personalizations"][0]["to"][0]["email"] == address
    ]


async def test_an_update_over_the_api_reaches_those_told_in_their_conversation(
    daemon: Daemon, fakes: tuple[SendGrid, Twilio]
) -> None:
    sg, sms = fakes
    _, incident = await notified(daemon)
    texts = len(sms.accepted)
    path = f"/api/v1/incidents/{incident}/updates"
    body = {"status": "identified", "text": "Bad deploy 42", "eta": "30m", "by": "alice"}
    async with client(daemon) as http:
        async with http.post(path, json=body) as resp:
            assert resp.status == 401  # no token: nobody may page everyone
        async with http.post(path, json={**body, "status": "fixed"}, headers=AUTH) as resp:
            assert resp.status == 400
            assert "status must be one of" in (await resp.json())["error"]
        async with http.post(path, json={**body, "pager": True}, headers=AUTH) as resp:
            assert resp.status == 400
        missing = "/api/v1/incidents/INC-20200101-000000-abcd/updates"
        async with http.post(missing, json=body, headers=AUTH) as resp:
            assert resp.status == 404
        async with http.post(path, json=body, headers=AUTH) as resp:
            assert resp.status == 201, await resp.text()
            posted = await resp.json()
        assert posted["id"] == incident
        assert posted["status"] == "identified"

        async def delivered() -> bool:
            return all(len(mails_to(sg, a)) >= 2 for a in (EMAIL, LEAD))

        await eventually(delivered)
        for address in (EMAIL, LEAD):
            first, update = mails_to(sg, address)[:2]
            assert isinstance(first["headers"], dict)
            assert update["headers"] == {
                "In-Reply-To": first["headers"]["Message-ID"],
                "References": first["headers"]["Message-ID"],
            }
            assert "Progress: Bad deploy 42" in str(update["content"])
        await asyncio.sleep(0.3)  # an SMS would have been sent by now
        assert len(sms.accepted) == texts  # not asked for --sms
        async with http.get(path) as resp:
            listed = await resp.json()
        assert listed["status"] == "identified"
        assert [u["text"] for u in listed["updates"]] == ["Bad deploy 42"]
        async with http.get("/") as resp:
            page = await resp.text()
        assert "<td>identified</td>" in page
        assert "by alice: Bad deploy 42" in page


async def test_the_status_page_escapes_an_update(
    daemon: Daemon, fakes: tuple[SendGrid, Twilio]
) -> None:
    _, incident = await notified(daemon)
    body = {"status": "monitoring", "text": "<img src=x onerror=alert(1)>"}
    async with client(daemon) as http:
        path = f"/api/v1/incidents/{incident}/updates"
        async with http.post(path, json=body, headers=AUTH) as resp:
            assert resp.status == 201
        async with http.get("/") as resp:
            page = await resp.text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page


async def test_incident_commands_update_show_and_list(
    daemon: Daemon,
    fakes: tuple[SendGrid, Twilio],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, incident = await notified(daemon)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SENTINEL_API_TOKEN", TOKEN)
    remote = ["--url", base(daemon), "-c", daemon.settings.config]
    configure("info", "json", Redactor(), io.StringIO())
    try:
        update = ["update", incident, "Rolled back deploy 42", "--status", "monitoring"]
        options = ["--eta", "30m", "--sms", "--by", "bob"]
        code = await asyncio.to_thread(main, ["incident", *remote, *update, *options])
        out = capsys.readouterr().out
        assert code == 0, out
        assert f"{incident} monitoring: sent to" in out
        code = await asyncio.to_thread(main, ["incident", *remote, "show", incident])
        out = capsys.readouterr().out
        assert code == 0
        assert "Status: monitoring" in out
        assert "update         monitoring: Rolled back deploy 42 (by bob)" in out
        assert "fired" in out
        code = await asyncio.to_thread(main, ["incident", *remote, "list"])
        out = capsys.readouterr().out
        assert code == 0
        assert incident in out
        bad = ["update", incident, "x", "--status", "identified", "--eta", "soon"]
        code = await asyncio.to_thread(main, ["incident", *remote, *bad])
        err = capsys.readouterr().err
        assert code == 1
        assert "sentinel answered 400: eta: invalid duration 'soon'" in err
    finally:
        structlog.reset_defaults()
    assert Path(daemon.settings.config).exists()


async def test_the_public_view_shows_updates_and_no_contact_label_or_secret(
    daemon: Daemon, fakes: tuple[SendGrid, Twilio]
) -> None:
    """Off by default (404). On: the incident's title, status and updates, and none of
    the contacts (not even who wrote the update), addresses, labels, ids or secrets."""
    fp, incident = await notified(daemon)
    async with client(daemon) as http:
        async with http.get("/public") as resp:
            assert resp.status == 404
        path = Path(daemon.settings.config)
        path.write_text(
            path.read_text().replace("server:\n", "server:\n  status_page: {public: true}\n", 1)
        )
        async with http.post("/-/reload", headers=AUTH) as resp:
            assert resp.status == 200
        update = {
            "status": "identified",
            "text": "Payments are slow; a fix is rolling out",
            "next_steps": "watch the error rate",
            "eta": "1h",
            "by": "alice-commander",
        }
        async with http.post(f"/api/v1/incidents/{incident}/updates", json=update, headers=AUTH):
            pass
        async with http.get("/public") as resp:
            assert resp.status == 200
            page = await resp.text()
    assert "Identified" in page
    assert "Payments are slow; a fix is rolling out" in page
    assert "watch the error rate" in page
    hidden = [
        *hostile.ADDRESSES,
        "alice",  # the contact, and who wrote the update
        fp,
        fp[:6],
        incident,
        "region",
        *ENV.values(),
        TOKEN,
        hostile.SG_KEY,
        hostile.SMS_TOKEN,
        hostile.SID,
        hostile.BEAT_KEY,
        *hostile.LITERAL,
        "ack-secret",
        "/ack/",
    ]
    assert [h for h in hidden if h in page] == []


async def test_the_status_page_form_sends_an_update_with_the_api_token(
    daemon: Daemon, fakes: tuple[SendGrid, Twilio]
) -> None:
    sg, _ = fakes
    _, incident = await notified(daemon)
    action = f"/ui/incidents/{incident}/updates"
    form = {"status": "monitoring", "text": "Rolled back from the page", "by": "alice"}
    async with client(daemon) as http:
        async with http.get("/") as resp:
            page = await resp.text()
        assert f'action="{action}"' in page
        async with http.post(action, data=form) as resp:
            assert resp.status == 403  # no token: an update reaches everyone paged
        async with http.post(action, data={**form, "token": "wrong"}) as resp:
            assert resp.status == 403
        mails = len(sg.accepted)
        async with http.post(action, data={**form, "token": TOKEN}, allow_redirects=False) as resp:
            assert resp.status == 303
        async with http.post(action, data={**form, "token": TOKEN, "status": "x"}) as resp:
            assert resp.status == 400
            assert "status must be one of" in await resp.text()

        async def delivered() -> bool:
            return any("Rolled back from the page" in str(r.json) for r in sg.accepted[mails:])

        await eventually(delivered)
        async with http.get("/") as resp:
            page = await resp.text()
        assert "by alice: Rolled back from the page" in page
        async with http.post(
            action, data={**form, "token": TOKEN, "text": "Error rate back to normal"}
        ) as resp:
            assert resp.status == 200  # after the redirect: the page
            page = await resp.text()
        latest = page.index("by alice: Error rate back to normal")
        assert "Earlier updates (1)" in page[latest:]
        assert "monitoring by alice: Rolled back from the page" in page[latest:]
