"""The SMTP notifier against a strict local SMTP server (aiosmtpd) with STARTTLS and
implicit TLS on a trustme certificate: the message, threading, and the retry table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from sentinel.config.loader import ConfigError, parse_config
from sentinel.config.models import SmtpChannel
from sentinel.escalation.targets import resolve
from sentinel.notify.base import DeliveryError, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.render import Renderer
from sentinel.notify.smtp import SmtpNotifier
from tests.conftest import free_port
from tests.notify.fakes import notice
from tests.notify.smtp_server import SmtpServer

USER = "alerts@example.com"
PASSWORD = "smtp-secret-password-42"


def now() -> float:
    return 0.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
async def smtp(ca: trustme.CA) -> AsyncIterator[SmtpServer]:
    async with SmtpServer(ca, users={USER: PASSWORD}) as server:
        yield server


def notifier(port: int, ca_file: str | None, timeout: float = 5.0, **changes: Any) -> SmtpNotifier:
    spec: dict[str, Any] = {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "tls": "starttls",
        "username": USER,
        "password": PASSWORD,
        "from": "sentinel@example.com",
        "to": ["ops@example.com"],
        "ca_file": ca_file,
    }
    spec.update(changes)
    channel = SmtpChannel.model_validate(spec)
    return SmtpNotifier(channel, NotifierDeps(None, Renderer(), now, timeout))


async def failure(n: SmtpNotifier, address: str | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await n.send(notice(), address, None)
    error = info.value
    for text in (str(error), repr(error), error.detail):
        assert PASSWORD not in text
    return error


async def test_starttls_with_auth_sends_text_and_html(smtp: SmtpServer, ca_file: str) -> None:
    """Over STARTTLS with AUTH: text/plain first, then HTML, the SendGrid subject,
    and the Message-ID is the ref."""
    sent = await notifier(smtp.port, ca_file).send(notice(), None, None)
    assert len(smtp.accepted) == 1
    got = smtp.accepted[0]
    assert (got.sender, got.recipients) == ("sentinel@example.com", ["ops@example.com"])
    msg = got.message
    assert msg["Subject"] == "[CRITICAL] ServiceDown production-api"
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = msg.get_body(("plain",))
    assert text is not None
    assert "connection refused" in text.get_content()
    assert sent == Sent(ref={"message_id": msg["Message-ID"]})
    assert msg["Auto-Submitted"] == "auto-generated"


async def test_implicit_tls(ca: trustme.CA, ca_file: str) -> None:
    async with SmtpServer(ca, tls="implicit", users={USER: PASSWORD}) as server:
        await notifier(server.port, ca_file, tls="implicit").send(notice(), "bob@example.com", None)
        assert server.accepted[0].recipients == ["bob@example.com"]


async def test_follow_ups_thread_under_the_first_mail(smtp: SmtpServer, ca_file: str) -> None:
    """Acknowledged and resolved carry In-Reply-To/References to the first message;
    the same notice sent again has the same Message-ID (mail clients show it once)."""
    n = notifier(smtp.port, ca_file)
    first = await n.send(notice(), None, None)
    assert first.ref is not None
    await n.send(notice("acknowledged"), None, first.ref)
    await n.send(notice("resolved"), None, first.ref)
    root, ack, resolved = (r.message for r in smtp.accepted)
    assert "In-Reply-To" not in root
    for follow in (ack, resolved):
        assert follow["In-Reply-To"] == root["Message-ID"]
        assert follow["References"] == root["Message-ID"]
    assert len({root["Message-ID"], ack["Message-ID"], resolved["Message-ID"]}) == 3
    await n.send(notice(), None, None)
    assert smtp.accepted[-1].message["Message-ID"] == root["Message-ID"]
    assert root["Message-ID"].endswith("@example.com>")


async def test_untrusted_certificate_is_not_accepted(smtp: SmtpServer) -> None:
    """Without the CA that signed the server's certificate, nothing is sent (and the
    password never goes over an unverified connection)."""
    error = await failure(notifier(smtp.port, None))
    assert (error.retry, error.reason) in {(True, "tls"), (True, "network")}
    assert smtp.accepted == []


@pytest.mark.parametrize(
    ("command", "reply", "retry", "reason"),
    [
        ("MAIL", "421 4.7.0 Try again later", True, "server_busy"),
        ("RCPT", "450 4.2.1 Mailbox busy", True, "server_busy"),
        ("DATA", "451 4.3.0 Local error in processing", True, "server_busy"),
        ("RCPT", "550 5.1.1 User unknown", False, "recipient"),
        ("MAIL", "553 5.7.1 Sender address rejected", False, "sender"),
        ("DATA", "552 5.3.4 Message too big", False, "too_large"),
        ("DATA", "554 5.7.1 Rejected as spam", False, "rejected"),
    ],
)
async def test_retry_table(
    smtp: SmtpServer, ca_file: str, command: str, reply: str, retry: bool, reason: str
) -> None:
    """4xx replies are retried, 5xx ones are permanent; the same send then goes through."""
    smtp.inject(command, reply)
    error = await failure(notifier(smtp.port, ca_file))
    assert (error.retry, error.reason) == (retry, reason)
    assert reply.split(" ", 1)[0] in error.detail
    assert isinstance(await notifier(smtp.port, ca_file).send(notice(), None, None), Sent)


async def test_real_refusals_of_the_server(smtp: SmtpServer, ca_file: str) -> None:
    """What the strict server refuses by itself: a wrong password (535), an unknown
    mailbox (550), a message over its size limit (552): all permanent."""
    error = await failure(notifier(smtp.port, ca_file, password="wrong-password"))
    assert (error.retry, error.reason) == (False, "auth")
    assert "535" in error.detail
    error = await failure(notifier(smtp.port, ca_file), "nobody@example.com")
    assert (error.retry, error.reason) == (False, "recipient")
    assert "550" in error.detail
    smtp.size_limit = 200
    async with SmtpServer(smtp.ca, users={USER: PASSWORD}, size_limit=300) as small:
        error = await failure(notifier(small.port, ca_file))
        assert (error.retry, error.reason) == (False, "too_large")


async def test_server_requires_auth_and_tls(ca: trustme.CA, ca_file: str) -> None:
    """Without credentials a submission server refuses MAIL (530): permanent."""
    async with SmtpServer(ca, users={USER: PASSWORD}) as server:
        error = await failure(notifier(server.port, ca_file, username=None, password=None))
        assert (error.retry, error.reason) == (False, "auth")
        assert "530" in error.detail


async def test_no_starttls_offered_is_a_config_error(ca: trustme.CA) -> None:
    """tls: starttls against a server that offers no STARTTLS is permanent: the
    password is never sent in the clear."""
    async with SmtpServer(ca, tls="none") as plain:
        n = notifier(plain.port, None, username=None, password=None)
        error = await failure(n)
        assert (error.retry, error.reason) == (False, "config")
        await notifier(plain.port, None, tls="none", username=None, password=None).send(
            notice(), None, None
        )
        assert len(plain.accepted) == 1


async def test_timeout_and_refused_connection_are_retried(smtp: SmtpServer, ca_file: str) -> None:
    smtp.inject("MAIL", 3.0)
    error = await failure(notifier(smtp.port, ca_file, timeout=0.3))
    assert (error.retry, error.reason) == (True, "timeout")
    error = await failure(notifier(free_port(), ca_file))
    assert (error.retry, error.reason) == (True, "network")
    assert "127.0.0.1" not in str(error)


async def test_recipients_and_config() -> None:
    n = notifier(1, None, to=[])
    error = await failure(n)
    assert (error.retry, error.reason) == (False, "no_recipient")
    with pytest.raises(ValidationError, match="without TLS"):
        notifier(1, None, tls="none")
    with pytest.raises(ValidationError, match="together"):
        notifier(1, None, password=None)


CONTACTS = """
channels:
  mail: {type: smtp, host: mail.example.com, from: sentinel@example.com,
         username: u, password: "${SMTP_PASSWORD}"}
contacts:
  alice: {email: alice@example.com, via: [email]}
escalation:
  critical: [{notify: [alice, "email:ops@example.com"]}]
"""


def test_contacts_email_goes_through_smtp() -> None:
    """A team with SMTP and no SendGrid reaches a contact's email and email: targets."""
    config = parse_config(CONTACTS, "smtp.yaml", {"SMTP_PASSWORD": PASSWORD})
    at = datetime(2026, 1, 5, tzinfo=UTC)
    assert [r.route for r in resolve(config, "alice", at)] == [("mail", "alice@example.com")]
    assert [r.route for r in resolve(config, "email:ops@example.com", at)] == [
        ("mail", "ops@example.com")
    ]
    console = "channels: {out: {type: console}}\n"
    with pytest.raises(ConfigError, match="email or smtp"):
        parse_config(console + "escalation: {critical: [{notify: [email:a@b.c]}]}", "x.yaml", {})


async def test_an_address_that_breaks_the_headers_is_refused_for_good() -> None:
    """An address with a line break (an email: target is only checked for its @) is a
    permanent error, not an internal one retried until it is dead."""
    error = await failure(notifier(1, None), "ops@example.com\r\nBcc: all@example.com")
    assert (error.retry, error.reason) == (False, "bad_address")


async def test_the_connection_is_kept_and_reopened(smtp: SmtpServer, ca_file: str) -> None:
    """Notices share one connection (no STARTTLS and AUTH each time); one the server
    closed while idle is opened again and the notice still goes; close() says QUIT."""
    n = notifier(smtp.port, ca_file)
    await n.send(notice(), None, None)
    await n.send(notice("acknowledged"), None, None)
    assert (smtp.sessions, len(smtp.accepted)) == (1, 2)
    smtp.drop()
    await asyncio.sleep(0.05)  # the client sees the connection go
    await n.send(notice("resolved"), None, None)
    assert (smtp.sessions, len(smtp.accepted)) == (2, 3)
    smtp.drop()  # and at once: the first command finds the connection gone
    await n.send(notice("repeat"), None, None)
    assert (smtp.sessions, len(smtp.accepted)) == (3, 4)
    await n.close()
    await n.close()  # twice is harmless
