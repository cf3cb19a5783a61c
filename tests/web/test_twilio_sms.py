"""SMS replies through the whole daemon on loopback: each texted page says "Reply ACK
<code>" with a code of its own for that number; a reply signed as Twilio signs its
inbound-message webhook (HMAC-SHA1 over the public URL and the sorted fields, keyed by
the auth token, computed here by hand from Twilio's documentation) acknowledges as
the contact whose phone sent it, and is answered with TwiML. Forged replies are 403;
unknown numbers are never answered; answers to one number are rate-limited; the codes
survive a restart. The daemon runs on a fake clock the test moves (the HTTP is real)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import structlog

from sentinel.app.daemon import Daemon
from sentinel.clock import FakeClock
from sentinel.config import load_config, secret_values
from sentinel.config.settings import Settings
from sentinel.escalation.replies import ReplyCodes
from sentinel.logs import Redactor
from sentinel.web.twilio_sms import Command, command
from tests.conftest import free_port
from tests.notify.fakes import Twilio
from tests.polling import run_daemon_until

SID, TOKEN, OLD_TOKEN = "AC" + "3" * 32, "sms-auth-token-0123456789ab", "sms-rotated-token-987"
ALICE, BOB, STRANGER, SENDER = "+15550100001", "+15550100002", "+15550199999", "+15550009999"
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
WITHIN = 5.0  # fake seconds: the results, the firings, the texts


def config_text(tmp_path: Path, port: int, sms: str, checks: int = 2) -> str:
    dead = "\n".join(
        f'  - {{name: dead{i}, type: tcp, target: "127.0.0.1:{free_port()}", '
        "interval: 200ms, timeout: 200ms}"
        for i in range(1, checks + 1)
    )
    return f"""
server:
  listen: "127.0.0.1:{port}"
  external_url: "http://127.0.0.1:{port}"
storage:
  url: "sqlite:{tmp_path}/state.db"
checks:
{dead}
rules:
  - {{name: ServiceDown, match: {{type: tcp}}, expr: up == 0, severity: critical}}
contacts:
  alice: {{phone: "{ALICE}", via: [sms]}}
  bob: {{phone: "{BOB}", via: [sms]}}
channels:
  text: {{type: sms, account_sid: "{SID}", auth_token: "{TOKEN}",
         secondary_auth_token: "{OLD_TOKEN}", from: "{SENDER}", api_url: "{sms}"}}
escalation:
  critical:
    - {{after: 0s, notify: [alice]}}
    - {{after: 1h, notify: [bob]}}
notifications: {{retry_initial: 100ms, retry_max: 500ms}}
"""


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented scheme: the full URL, then each POST field's name and value
    sorted by name, HMAC-SHA1 with the auth token, base64."""
    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


async def reply(
    daemon_url: str, sender: str, text: str, token: str = TOKEN, signature: str | None = None
) -> tuple[int, str]:
    url = daemon_url + "/twilio/inbound"
    params = {"MessageSid": "SM" + "1" * 32, "AccountSid": SID, "From": sender,
              "To": SENDER, "Body": text, "NumMedia": "0"}  # fmt: skip
    sig = twilio_signature(token, url, params) if signature is None else signature
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=params, headers={"X-Twilio-Signature": sig}) as r,
    ):
        return r.status, await r.text()


def message(text: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{text}</Message></Response>'


@pytest.fixture
async def sms() -> AsyncIterator[Twilio]:
    async with Twilio(SID, TOKEN) as fake:
        yield fake


async def started(
    tmp_path: Path, port: int, sms: Twilio, checks: int = 2, clock: FakeClock | None = None
) -> Daemon:
    path = tmp_path / "sentinel.yaml"
    path.write_text(config_text(tmp_path, port, sms.url, checks))
    config = load_config(path, {})
    redactor = Redactor()
    redactor.set_secrets(secret_values(config))
    d = Daemon(config, Settings(config=str(path)), clock or FakeClock(), {}, redactor)
    await d.start()
    return d


@pytest.fixture
async def daemon(tmp_path: Path, sms: Twilio) -> AsyncIterator[Daemon]:
    d = await started(tmp_path, free_port(), sms)
    yield d
    await d.stop()
    structlog.reset_defaults()


def base(daemon: Daemon) -> str:
    host, port = daemon.listening[0]
    return f"http://{host}:{port}"


async def pages(daemon: Daemon, sms: Twilio, n: int = 2) -> dict[str, str]:
    """The first ``n`` texts to alice: reply code -> the alert's fingerprint."""
    await run_daemon_until(daemon, lambda: len(sms.accepted) >= n, WITHIN)
    out: dict[str, str] = {}
    for rec in sms.accepted[:n]:
        assert rec.form["To"] == ALICE
        found = re.search(r"Reply ACK (\d+)", rec.form["Body"])
        assert found is not None, rec.form["Body"]
        check = re.search(r"dead\d", rec.form["Body"])
        assert check is not None
        fp = next(fp for fp, f in daemon.escalator.facts.items() if f.check == check.group())
        out[found.group(1)] = fp
    return out


async def timeline(daemon: Daemon, fp: str) -> list[str]:
    found = await daemon.store.incident(daemon.escalator.journal.open[fp].id)
    assert found is not None
    return [e.text for e in found[1]]


def counted(daemon: Daemon, name: str, **labels: str) -> float:
    return daemon.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_each_page_carries_its_own_code_and_ack_code_acknowledges(
    daemon: Daemon, sms: Twilio
) -> None:
    codes = await pages(daemon, sms)
    assert sorted(codes) == ["1", "2"]
    fp = codes["2"]
    status, body = await reply(base(daemon), ALICE, "ack 2")
    check = daemon.escalator.facts[fp].check
    assert (status, body) == (200, message(f"Acknowledged: ServiceDown on {check}."))
    assert daemon.escalator.progress[fp].acked_by == "alice via sms"
    assert not daemon.escalator.progress[codes["1"]].acked
    assert "acknowledged by alice via sms" in await timeline(daemon, fp)
    # Again: who had it is said, nothing changes.
    status, body = await reply(base(daemon), ALICE, "ACK 2")
    assert body == message(f"Already acknowledged by alice via sms: ServiceDown on {check}.")


async def test_ack_alone_lists_several_then_takes_the_only_one_left(
    daemon: Daemon, sms: Twilio
) -> None:
    codes = await pages(daemon, sms)
    status, body = await reply(base(daemon), ALICE, "ACK")
    assert status == 200
    assert "2 alerts open: reply ACK 1 (ServiceDown on dead" in body
    assert "or ACK ALL." in body
    assert not any(p.acked for p in daemon.escalator.progress.values())
    await reply(base(daemon), ALICE, "ACK 1")
    status, body = await reply(base(daemon), ALICE, " Ack ")
    check = daemon.escalator.facts[codes["2"]].check
    assert body == message(f"Acknowledged: ServiceDown on {check}.")
    status, body = await reply(base(daemon), ALICE, "ACK")
    assert body == message("Nothing open to acknowledge.")


async def test_ack_all_acknowledges_every_alert_texted_to_the_number(
    daemon: Daemon, sms: Twilio
) -> None:
    codes = await pages(daemon, sms)
    status, body = await reply(base(daemon), ALICE, "ACK ALL", token=OLD_TOKEN)
    assert (status, body) == (200, message("Acknowledged 2 alerts."))
    assert all(daemon.escalator.progress[fp].acked_by == "alice via sms" for fp in codes.values())


async def test_a_wrong_code_or_other_text_gets_help_not_an_ack(daemon: Daemon, sms: Twilio) -> None:
    await pages(daemon, sms)
    status, body = await reply(base(daemon), ALICE, "ACK 7")
    assert status == 200
    assert "<Message>No open alert 7 for this number. 2 alerts open: reply ACK 1 (" in body
    status, body = await reply(base(daemon), ALICE, "who is this?")
    assert "reply ACK &lt;code&gt; to acknowledge that alert" in body
    # bob was texted nothing yet: his ACK finds nothing, and alice's codes are not his.
    status, body = await reply(base(daemon), BOB, "ACK 1")
    assert body == message("No open alert 1 for this number. Nothing is open.")
    assert not any(p.acked for p in daemon.escalator.progress.values())


async def test_forged_and_unknown_numbers_are_refused_or_ignored(
    daemon: Daemon, sms: Twilio
) -> None:
    """Another token, no signature, or the body changed after signing: 403. A signed
    text from a number nobody configured: an empty answer, counted, nothing done."""
    await pages(daemon, sms)
    url = base(daemon)
    assert (await reply(url, ALICE, "ACK ALL", token="not-the-token"))[0] == 403
    assert (await reply(url, ALICE, "ACK ALL", signature=""))[0] == 403
    good = twilio_signature(TOKEN, url + "/twilio/inbound", {"Body": "help"})
    assert (await reply(url, ALICE, "ACK ALL", signature=good))[0] == 403
    assert (await reply(url, STRANGER, "ACK ALL")) == (200, EMPTY)
    assert not any(p.acked for p in daemon.escalator.progress.values())
    assert counted(daemon, "sentinel_answers_refused_total", via="sms", reason="forged") == 3
    unknown = counted(daemon, "sentinel_answers_refused_total", via="sms", reason="unknown_number")
    assert unknown == 1


async def test_answers_to_one_number_are_rate_limited(daemon: Daemon, sms: Twilio) -> None:
    """Five answers at once, then silence for that number (another is still answered);
    the command itself is still carried out."""
    codes = await pages(daemon, sms)
    url = base(daemon)
    for _ in range(5):
        assert "<Message>" in (await reply(url, ALICE, "hello"))[1]
    assert await reply(url, ALICE, "ACK 1") == (200, EMPTY)
    assert daemon.escalator.progress[codes["1"]].acked
    assert "<Message>" in (await reply(url, BOB, "hello"))[1]
    limited = counted(daemon, "sentinel_answers_refused_total", via="sms", reason="rate_limited")
    assert limited == 1


async def test_reply_codes_survive_a_restart(tmp_path: Path, sms: Twilio) -> None:
    port, clock = free_port(), FakeClock()  # one clock: the restart goes on from its time
    first = await started(tmp_path, port, sms, clock=clock)
    try:
        codes = await pages(first, sms)
    finally:
        await first.stop()
    second = await started(tmp_path, port, sms, clock=clock)
    try:
        assert await second.facade.texted(ALICE) != []
        assert "Acknowledged: ServiceDown on" in (await reply(base(second), ALICE, "ACK 2"))[1]
        assert second.escalator.progress[codes["2"]].acked_by == "alice via sms"
    finally:
        await second.stop()
        structlog.reset_defaults()


# -- the pure parts ------------------------------------------------------------


def test_commands() -> None:
    assert command("ACK 4") == Command("code", "4")
    assert command("ack4") == Command("code", "4")
    assert command(" Ack 04 ") == Command("code", "4")
    assert command("ACK") == Command("one")
    assert command("ack all") == Command("all")
    assert command("ACK a1b2c3") == Command("ref", "a1b2c3")
    for other in ("", "yes", "ACK 1 2", "ACKNOWLEDGE", "ack abc"):
        assert command(other) == Command("help"), other


def test_codes_are_the_smallest_free_per_number_and_stable_per_firing() -> None:
    book = ReplyCodes()
    assert book.code(["+1"], "a", "a@1") == 1
    assert book.code(["+1"], "b", "b@1") == 2
    assert book.code(["+1"], "a", "a@1") == 1  # the escalation's next step: same code
    assert book.code(["+2"], "b", "b@1") == 1  # another number counts its own
    assert book.code(["+1", "+2"], "c", "c@1") == 3  # free for both
    book.drop("a")
    assert book.code(["+1"], "d", "d@1") == 1
    assert [(r.code, r.fingerprint) for r in book.of("+1")] == [(1, "d"), (2, "b"), (3, "c")]
    assert book.code(["+1"], "b", "b@2") == 2  # a new firing keeps the number's free code
