"""type: voice through the whole daemon on loopback (on a fake clock the test moves; the
HTTP is real, and one test runs `sentinel run` as a process in real time): a failing
check calls alice;
Twilio's keypress webhook (signed as Twilio signs it) "1" acknowledges, "2" escalates
at once, a no-answer outcome falls through to SMS, and a forged request is refused."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import structlog
from twilio.request_validator import RequestValidator

from sentinel.app.daemon import Daemon
from sentinel.cli.notify import notify_test
from sentinel.clock import FakeClock, SystemClock
from sentinel.config import load_config, secret_values
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from tests.conftest import free_port
from tests.notify.fakes import Fault, Twilio, TwilioCalls
from tests.polling import eventually, run_daemon_until

SID, TOKEN, OLD_TOKEN = "AC" + "2" * 32, "voice-auth-token-0123456789", "rotated-token-98765"
ALICE, BOB = "+15550100001", "+15550100002"
WITHIN = 5.0  # fake seconds: a result, the firing, the call (or the next one, a text)


def config_text(tmp_path: Path, port: int, calls: str, sms: str) -> str:
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
  api_token: "api-token-0123456789"
storage:
  url: "sqlite:{tmp_path}/state.db"
checks:
  - {{name: dead, type: tcp, target: "127.0.0.1:{free_port()}", interval: 200ms, timeout: 200ms}}
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical,
      summary: "{{{{ check }}}} is down"}}
contacts:
  alice: {{phone: "{ALICE}", via: [voice]}}
  bob: {{phone: "{BOB}", via: [voice]}}
channels:
  phone: {{type: voice, account_sid: "{SID}", auth_token: "{TOKEN}",
          secondary_auth_token: "{OLD_TOKEN}", from: "+15550009999", api_url: "{calls}"}}
  text: {{type: sms, account_sid: "{SID}", auth_token: "{TOKEN}", from: "+15550009999",
         api_url: "{sms}"}}
escalation:
  critical:
    - {{after: 0s, notify: [alice]}}
    - {{after: 1h, notify: [bob]}}
notifications: {{retry_initial: 100ms, retry_max: 500ms}}
"""


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[TwilioCalls, Twilio]]:
    async with TwilioCalls(SID, TOKEN) as calls, Twilio(SID, TOKEN) as sms:
        yield calls, sms


@pytest.fixture
async def daemon(tmp_path: Path, fakes: tuple[TwilioCalls, Twilio]) -> AsyncIterator[Daemon]:
    calls, sms = fakes
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, free_port(), calls.url, sms.url))
    config = load_config(path, {})
    redactor = Redactor()
    redactor.set_secrets(secret_values(config))
    d = Daemon(config, Settings(config=str(path)), FakeClock(), {}, redactor)
    await d.start()
    yield d
    await d.stop()
    structlog.reset_defaults()


async def twilio_posts(
    url: str, params: dict[str, str], token: str = TOKEN, signature: str | None = None
) -> tuple[int, str]:
    """POST as Twilio does: form fields, X-Twilio-Signature over the URL and fields."""
    sig = RequestValidator(token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": sig if signature is None else signature}
    async with aiohttp.ClientSession() as http, http.post(url, data=params, headers=headers) as r:
        return r.status, await r.text()


async def first_call(daemon: Daemon, calls: TwilioCalls) -> tuple[str, dict[str, str]]:
    await run_daemon_until(daemon, lambda: len(calls.accepted) == 1, WITHIN)
    form = calls.accepted[0].form
    assert form["To"] == ALICE
    fp = next(iter(daemon.escalator.progress))
    return fp, form


async def timeline(daemon: Daemon, fp: str) -> list[str]:
    found = await daemon.store.incident(daemon.escalator.journal.open[fp].id)
    assert found is not None
    return [e.text for e in found[1]]


def keys(form: dict[str, str], digit: str, call: str = "CA1") -> dict[str, str]:
    return {"CallSid": call, "AccountSid": SID, "From": form["From"], "To": form["To"],
            "Digits": digit}  # fmt: skip


async def test_keypress_1_acknowledges_by_the_called_contact_via_voice(
    daemon: Daemon, fakes: tuple[TwilioCalls, Twilio]
) -> None:
    calls, _ = fakes
    fp, form = await first_call(daemon, calls)
    action = form["StatusCallback"].removesuffix("/status")
    status, body = await twilio_posts(action, keys(form, "1"))
    assert (status, body) == (200, "<Response><Say>Acknowledged.</Say></Response>")
    assert daemon.escalator.progress[fp].acked_by == "alice via voice"
    assert "acknowledged by alice via voice" in await timeline(daemon, fp)


async def test_keypress_2_escalates_at_once_and_a_wrong_key_asks_again(
    daemon: Daemon, fakes: tuple[TwilioCalls, Twilio]
) -> None:
    """ "2" calls bob now (his step is an hour away); signed with the rotated token too."""
    calls, _ = fakes
    fp, form = await first_call(daemon, calls)
    action = form["StatusCallback"].removesuffix("/status")
    status, body = await twilio_posts(action, keys(form, "7"))
    assert status == 200
    assert f'action="{action}?again=1"' in body
    status, body = await twilio_posts(action + "?again=1", keys(form, "9"))
    assert "No answer recorded" in body
    assert "Gather" not in body
    status, body = await twilio_posts(action, keys(form, "2"), token=OLD_TOKEN)
    assert status == 200
    assert "Escalated" in body
    await run_daemon_until(
        daemon, lambda: [r.form["To"] for r in calls.accepted] == [ALICE, BOB], WITHIN
    )
    assert not daemon.escalator.progress[fp].acked
    assert "escalated now by alice via voice" in await timeline(daemon, fp)


async def test_no_answer_falls_through_to_sms(
    daemon: Daemon, fakes: tuple[TwilioCalls, Twilio]
) -> None:
    calls, sms = fakes
    fp, form = await first_call(daemon, calls)
    outcome = {"CallSid": calls.sids[0], "AccountSid": SID, "From": form["From"],
               "To": ALICE, "CallStatus": "no-answer"}  # fmt: skip
    status, _ = await twilio_posts(form["StatusCallback"], outcome)
    assert status == 204
    await run_daemon_until(daemon, lambda: len(sms.accepted) == 1, WITHIN)
    assert sms.accepted[0].form["To"] == ALICE
    assert "ServiceDown" in sms.accepted[0].form["Body"]
    # Twilio retries a callback it thinks was lost: still one text.
    assert (await twilio_posts(form["StatusCallback"], outcome))[0] == 204
    assert "call to alice not answered (no-answer)" in await timeline(daemon, fp)
    assert len(sms.accepted) == 1


async def test_forged_keypress_is_refused(
    daemon: Daemon, fakes: tuple[TwilioCalls, Twilio]
) -> None:
    """Unsigned, signed with another token, or fields changed after signing: 403, no ack."""
    calls, _ = fakes
    fp, form = await first_call(daemon, calls)
    action = form["StatusCallback"].removesuffix("/status")
    assert (await twilio_posts(action, keys(form, "1"), signature=""))[0] == 403
    assert (await twilio_posts(action, keys(form, "1"), token="not-the-token"))[0] == 403
    good = RequestValidator(TOKEN).compute_signature(action, keys(form, "2"))
    assert (await twilio_posts(action, keys(form, "1"), signature=good))[0] == 403
    status, _ = await twilio_posts(form["StatusCallback"], {"CallStatus": "busy"}, token="x")
    assert status == 403
    assert not daemon.escalator.progress[fp].acked


async def test_real_process_calls_and_a_keypress_acknowledges(
    tmp_path: Path, fakes: tuple[TwilioCalls, Twilio]
) -> None:
    """`sentinel run` as its own process: it calls alice; her signed "1" acknowledges
    (the API shows who), and a no-answer for the acknowledged alert texts nobody."""
    calls, sms = fakes
    port = free_port()
    config = tmp_path / "sentinel.yaml"
    config.write_text(config_text(tmp_path, port, calls.url, sms.url))
    log = tmp_path / "sentinel.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sentinel", "run", "-c", str(config),
            env={**os.environ, "SENTINEL_LOG_FORMAT": "json", "SENTINEL_LOG_LEVEL": "debug"},
            stdout=out, stderr=out,
        )  # fmt: skip
    try:
        await eventually(lambda: len(calls.accepted) == 1, seconds=30)
        form = calls.accepted[0].form
        action = form["StatusCallback"].removesuffix("/status")
        status, body = await twilio_posts(action, keys(form, "1"))
        assert (status, body) == (200, "<Response><Say>Acknowledged.</Say></Response>")
        fp = action.split("/")[-2]
        headers = {"Authorization": "Bearer api-token-0123456789"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/api/v1/alerts/{fp}", headers=headers) as r,
        ):
            alert = await r.json()
        assert alert["escalation"]["acknowledged_by"] == "alice via voice"
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/api/v1/config", headers=headers) as r,
        ):
            shown = await r.text()
        assert r.status == 200
        # a forged keypress is logged as refused
        assert (await twilio_posts(action, keys(form, "2"), token="forged-token-xyz"))[0] == 403
        outcome = {"CallSid": calls.sids[0], "To": ALICE, "CallStatus": "no-answer"}
        assert (await twilio_posts(form["StatusCallback"], outcome))[0] == 204
        await asyncio.sleep(0.5)
        assert sms.accepted == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    logged = log.read_text()
    assert "twilio_signature_refused" in logged
    basic = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    for secret in (SID, TOKEN, OLD_TOKEN, basic):
        assert secret not in logged
        assert secret not in shown


async def test_notify_test_places_a_call_and_reports_a_refusal(
    tmp_path: Path, fakes: tuple[TwilioCalls, Twilio], capsys: pytest.CaptureFixture[str]
) -> None:
    """`sentinel notify-test phone --to <number>` places a call that reads the test
    message (no keypress asked); a bad token is a permanent refusal without the token."""
    calls, sms = fakes
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, free_port(), calls.url, sms.url))
    config = load_config(path, {})
    assert await notify_test(config, "phone", BOB, SystemClock()) == 0
    assert capsys.readouterr().out.strip() == "phone: delivered"
    form = calls.accepted[0].form
    assert form["To"] == BOB
    assert "Gather" not in form["Twiml"]
    calls.inject(Fault(401, {"code": 20003, "message": "Authenticate", "status": 401}))
    assert await notify_test(config, "phone", BOB, SystemClock()) == 1
    err = capsys.readouterr().err
    assert "permanent" in err
    assert TOKEN not in err
