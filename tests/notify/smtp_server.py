"""A strict local SMTP server (aiosmtpd) on 127.0.0.1, for the SMTP notifier's tests.

It refuses what a real submission server refuses: mail before STARTTLS (when
``tls="starttls"``), mail without AUTH when it has users (530), a wrong
password (535), an unknown recipient (550 5.1.1), a message over
``size_limit`` (552), and a message without the headers RFC 5322 requires or
without a text part (554). :meth:`inject` scripts one reply for a command
(``"RCPT"``, ``"MAIL"``, ``"DATA"``), or a delay before it answers::

    async with SmtpServer(ca, users={"alerts": "pw"}) as smtp:
        smtp.inject("MAIL", "421 4.7.0 try again later")
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings
from collections import deque
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import partial
from types import TracebackType
from typing import Any, Literal, Self

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

REQUIRED = ("From", "To", "Subject", "Date", "Message-ID")


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class SmtpServer:
    def __init__(
        self,
        ca: trustme.CA,
        *,
        tls: Literal["starttls", "implicit", "none"] = "starttls",
        users: dict[str, str] | None = None,
        mailboxes: set[str] | None = None,
        size_limit: int = 1024 * 1024,
    ) -> None:
        self.ca = ca
        self.tls = tls
        self.users = users or {}
        self.mailboxes = mailboxes or {"ops@example.com", "lead@example.com", "bob@example.com"}
        self.size_limit = size_limit
        self.accepted: list[Received] = []
        self.faults: deque[tuple[str, str | float]] = deque()
        self.sessions = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._release = asyncio.Event()
        self._live: list[SMTP] = []

    def drop(self) -> None:
        """Close every open session, as a server does with idle clients."""
        for session in self._live:
            if session.transport is not None:
                session.transport.close()
        self._live.clear()

    def inject(self, command: str, reply: str | float) -> None:
        """The next ``command`` gets ``reply`` (an SMTP reply line), or waits that many
        seconds (a float) before answering normally."""
        self.faults.append((command, reply))

    async def _fault(self, command: str) -> str | None:
        if not self.faults or self.faults[0][0] != command:
            return None
        _, reply = self.faults.popleft()
        if isinstance(reply, str):
            return reply
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), reply)
        return None

    # -- aiosmtpd handler hooks ---------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if fault := await self._fault("MAIL"):
            return fault
        if self.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if fault := await self._fault("RCPT"):
            return fault
        if address.lower() not in self.mailboxes:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if fault := await self._fault("DATA"):
            return fault
        raw = envelope.original_content or b""
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        missing = [h for h in REQUIRED if not msg.get(h)]
        if missing:
            return f"554 5.6.0 Message is missing required headers: {', '.join(missing)}"
        if msg.get_body(("plain",)) is None:
            return "554 5.6.0 Message has no text part"
        self.accepted.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        return "250 2.0.0 Ok: queued"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        ok = self.users.get(user) == password and bool(password)
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535

    # -- lifecycle ------------------------------------------------------------

    def _contexts(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        return ctx

    async def __aenter__(self) -> Self:
        ctx = self._contexts() if self.tls != "none" else None
        factory = partial(
            SMTP,
            self,
            hostname="mail.example.com",
            data_size_limit=self.size_limit,
            tls_context=ctx if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            auth_required=bool(self.users),
            # implicit TLS is TLS from the first byte, which aiosmtpd does not see
            auth_require_tls=self.tls == "starttls",
            authenticator=self._authenticate,
            decode_data=False,
        )

        def protocol() -> SMTP:
            self.sessions += 1
            with warnings.catch_warnings():
                # aiosmtpd warns of AUTH without STARTTLS: implicit TLS is TLS already
                warnings.simplefilter("ignore", UserWarning)
                session = factory()
            self._live.append(session)
            return session

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            protocol, "127.0.0.1", 0, ssl=ctx if self.tls == "implicit" else None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
