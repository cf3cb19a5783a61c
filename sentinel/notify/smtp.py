"""Email through your own mail server over SMTP (aiosmtplib), with the SendGrid templates.

One connection, kept between notices (closed after a minute idle, opened
again when the server dropped it): connect, ``STARTTLS`` (``tls: starttls``, port 587)
or TLS from the first byte (``tls: implicit``, port 465) or neither (``tls:
none``, port 25, and then no password is sent), ``AUTH`` when a username is
set, then ``MAIL``/``RCPT``/``DATA`` of a ``multipart/alternative`` message:
``text/plain`` first, then ``text/html`` (docs/providers.md, "SMTP").

Every message has a ``Message-ID`` derived from the notice and its
recipients, so a notice sent twice (a retry after a lost answer, a restart)
has the same id and mail clients show it once. Later notices of a firing
(acknowledged, resolved, escalation, repeat) carry ``In-Reply-To`` and
``References`` to the first message's id, so they thread beneath it.

Failures: a 5xx reply (550 unknown user, 535 authentication failed, 552 too
large, 554 refused) is permanent; a 4xx reply (421 try later, 450 mailbox busy,
451, 452), a refused or lost connection, a TLS failure and a timeout are
retried. The server's text is kept in ``detail`` with the credentials blanked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib

from sentinel.config.models import SmtpChannel
from sentinel.notify.base import DeliveryError, Notice, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.email import addressees, recipients
from sentinel.notify.http import short

PORTS = {"starttls": 587, "implicit": 465, "none": 25}
THREADED = frozenset({"acknowledged", "resolved", "escalation", "repeat"})
MAX_RECIPIENTS = 100  # what most relays accept in one transaction
IDLE = 60.0  # seconds a kept connection may idle (servers drop theirs after 300 or so)


def message_id(notice: Notice, to: list[str], domain: str) -> str:
    """``<sentinel.<hash>@domain>``: the same notice to the same people, the same id."""
    data = json.dumps([notice.to_json(), sorted(a.lower() for a in to)], sort_keys=True)
    return f"<sentinel.{hashlib.sha256(data.encode()).hexdigest()[:32]}@{domain}>"


def smtp_error(exc: Exception, secrets: tuple[str, ...]) -> DeliveryError:
    """An SMTP client failure as a DeliveryError: 4xx and the network are retried."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = short("; ".join(f"{r.code} {r.message}" for r in exc.recipients), secrets)
        retry = any(400 <= c < 500 for c in codes)
        reason = "server_busy" if retry else "recipient"
        return DeliveryError(retry=retry, reason=reason, detail=f"recipients refused: {text}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {short(exc.message, secrets)}"
        if 400 <= exc.code < 500:
            return DeliveryError(retry=True, reason="server_busy", detail=text)
        if exc.code == 552:  # at MAIL (the SIZE announced) or after DATA
            return DeliveryError(retry=False, reason="too_large", detail=text)
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or exc.code == 530:
            return DeliveryError(retry=False, reason="auth", detail=text)
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            return DeliveryError(retry=False, reason="sender", detail=text)
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            return DeliveryError(retry=False, reason="recipient", detail=text)
        if 500 <= exc.code < 600:
            return DeliveryError(retry=False, reason="rejected", detail=text)
        return DeliveryError(retry=True, reason="server_error", detail=text)
    if isinstance(exc, TimeoutError):
        return DeliveryError(retry=True, reason="timeout", detail=type(exc).__name__)
    if isinstance(exc, aiosmtplib.SMTPException) and not isinstance(exc, ConnectionError):
        # the server offers no STARTTLS or no AUTH: only the config can fix it
        return DeliveryError(retry=False, reason="config", detail=short(exc.message, secrets))
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(retry=True, reason="tls", detail=type(exc).__name__)
    return DeliveryError(retry=True, reason="network", detail=type(exc).__name__)


class SmtpNotifier:
    min_interval = 0.1
    digest = True

    def __init__(self, channel: SmtpChannel, deps: NotifierDeps, name: str = "smtp") -> None:
        """``deps.session`` is unused (SMTP is not HTTP)."""
        self.name = name
        self._renderer = deps.renderer
        self._now = deps.now
        self._timeout = deps.timeout
        self._host = channel.host
        self._tls = channel.tls
        self._port = channel.port or PORTS[channel.tls]
        self._user = channel.username.get_secret_value() if channel.username else None
        self._password = channel.password.get_secret_value() if channel.password else None
        self._from = channel.from_
        self._domain = channel.from_.rsplit("@", 1)[1]
        self._to = recipients(channel.to)
        self._ca_file = channel.ca_file
        self._context: ssl.SSLContext | None = None
        self._local: str | None = None  # our name for EHLO, looked up once
        self._smtp: aiosmtplib.SMTP | None = None  # the connection kept between notices
        self._used = 0.0  # when it last delivered
        self._secrets = tuple(s for s in (self._user, self._password) if s)

    def mail(self, notice: Notice, to: list[str], thread: dict[str, str] | None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = formataddr(("sentinel", self._from))
        msg["To"] = ", ".join(to)
        msg["Subject"] = self._renderer.subject(notice)
        msg["Date"] = formatdate(notice.at, usegmt=True)
        msg["Message-ID"] = message_id(notice, to, self._domain)
        first = thread.get("message_id") if thread else None
        if first and notice.kind in THREADED:
            msg["In-Reply-To"] = first
            msg["References"] = first
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
        msg.set_content(self._renderer.text(notice), cte="quoted-printable")
        msg.add_alternative(self._renderer.html(notice), subtype="html", cte="quoted-printable")
        return msg

    async def _prepare(self) -> None:
        """Once, off the loop: the TLS context (it reads the CA files) and our name for
        EHLO (aiosmtplib would look ``getfqdn`` up again for every connection)."""
        if self._local is None:
            self._local = await asyncio.to_thread(socket.getfqdn) or "localhost"
        if self._tls != "none" and self._context is None:
            try:
                self._context = await asyncio.to_thread(
                    ssl.create_default_context, cafile=self._ca_file
                )
            except OSError:
                raise DeliveryError(
                    retry=False, reason="config", detail="ca_file cannot be read"
                ) from None

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        to = addressees(address, self._to, MAX_RECIPIENTS, "one SMTP mail")
        try:
            msg = self.mail(notice, to, thread)
        except ValueError:  # a line break or other character no mail header may hold
            raise DeliveryError(
                retry=False, reason="bad_address", detail="an address is not valid in a header"
            ) from None
        await self._prepare()
        try:
            async with asyncio.timeout(self._timeout):
                await self._deliver(msg, to)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.close()  # whatever state the session is in, the next send starts anew
            raise smtp_error(exc, self._secrets) from None
        self._used = self._now()
        return Sent(ref={"message_id": str(msg["Message-ID"])})

    async def _deliver(self, msg: EmailMessage, to: list[str]) -> None:
        """On the open connection when there is one (no connect, STARTTLS and AUTH per
        notice); a connection the server closed while idle is opened again, once."""
        if self._smtp is not None and (
            not self._smtp.is_connected or self._now() - self._used > IDLE
        ):
            await self.close()
        reused = self._smtp is not None
        try:
            client = await self._connect()
            await client.send_message(msg, sender=self._from, recipients=to)
        except aiosmtplib.SMTPServerDisconnected:
            if not reused:
                raise
            await self.close()
            client = await self._connect()
            await client.send_message(msg, sender=self._from, recipients=to)

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._smtp is None:
            client = aiosmtplib.SMTP(
                hostname=self._host,
                port=self._port,
                username=self._user,
                password=self._password,
                use_tls=self._tls == "implicit",
                start_tls=self._tls == "starttls",
                tls_context=self._context,
                local_hostname=self._local,
                timeout=self._timeout,
            )
            await client.connect()
            self._smtp = client
        return self._smtp

    async def close(self) -> None:
        """QUIT the open connection, if any (politely, briefly; a dead one is just closed)."""
        client, self._smtp = self._smtp, None
        if client is None:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), 2.0)
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            client.close()
