"""Strict local fakes of the notification providers, on 127.0.0.1.

Each fake is an aiohttp application that rejects what the real service would
reject (the contracts of docs/providers.md), records the requests it
accepted, and answers from a queue of injected :class:`Fault` responses first,
so a test can script "429 with Retry-After: 2, then success"::

    async with SlackApi(token=TOKEN) as slack:
        slack.inject(Fault(429, headers={"Retry-After": "1.5"}))
        ...
        assert slack.accepted[0].json["channel"] == "#ops"
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.test_utils import TestServer

from sentinel.notify.base import AlertFacts, Folded, Notice

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
T0 = 1_767_603_600.0  # 2026-01-05T09:00Z


@dataclass(frozen=True)
class Fault:
    """A canned answer given instead of the real one. ``delay`` waits first (longer
    than the client's timeout provokes a timeout); ``status=None`` then answers normally."""

    status: int | None = 503
    body: Any = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def response(self) -> web.Response:
        if isinstance(self.body, dict | list):
            return web.json_response(self.body, status=self.status or 200, headers=self.headers)
        data = self.body.encode() if isinstance(self.body, str) else bytes(self.body)
        return web.Response(
            body=data, status=self.status or 200, headers=self.headers, content_type="text/plain"
        )


@dataclass
class Recorded:
    """One accepted request."""

    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)


class Fake:
    """The shared part: a test server, fault injection, and the record of requests."""

    def __init__(self) -> None:
        self.accepted: list[Recorded] = []
        self.seen = 0  # every request, rejected and faulted ones too
        self.faults: deque[Fault] = deque()
        self.url = ""
        self._release = asyncio.Event()
        self._server: TestServer | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.seen += 1
        if not self.faults:
            return await handler(request)
        fault = self.faults.popleft()
        if fault.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), fault.delay)
        return fault.response() if fault.status is not None else await handler(request)

    async def record(self, request: web.Request) -> Recorded:
        body = await request.read()
        rec = Recorded(request.path, dict(request.headers), body)
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            try:
                rec.json = json.loads(body)
            except ValueError:
                rec.json = None
        elif ctype.startswith("application/x-www-form-urlencoded"):
            rec.form = {k: str(v) for k, v in (await request.post()).items()}
        return rec

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._faults], client_max_size=4 * 1024 * 1024)
        self.routes(app)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()


def _blocks_ok(blocks: Any) -> bool:
    return isinstance(blocks, list) and all(
        isinstance(b, dict) and isinstance(b.get("type"), str) and b["type"] for b in blocks
    )


class SlackApi(Fake):
    """Slack Web API: ``chat.postMessage`` and ``chat.update``; every error is HTTP 200."""

    def __init__(self, token: str, channels: dict[str, str] | None = None) -> None:
        super().__init__()
        self.token = token
        # Names and IDs a message may be posted to, each mapped to the channel ID.
        self.channels = channels or {"#ops": "C0OPS", "C0OPS": "C0OPS", "@alice": "D0ALICE"}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self._ts = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat.postMessage", self.post_message)
        app.router.add_post("/api/chat.update", self.update)

    @staticmethod
    def error(code: str) -> web.Response:
        return web.json_response({"ok": False, "error": code})

    async def _common(self, request: web.Request) -> tuple[Recorded, str | None]:
        rec = await self.record(request)
        auth = request.headers.get("Authorization")
        if not auth:
            return rec, "not_authed"
        if auth != f"Bearer {self.token}":
            return rec, "invalid_auth"
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return rec, "invalid_form_data"
        if not isinstance(rec.json, dict):
            return rec, "invalid_json"
        body = rec.json
        if "blocks" in body and not _blocks_ok(body["blocks"]):
            return rec, "invalid_blocks"
        attachments = body.get("attachments", [])
        if not isinstance(attachments, list) or not all(
            isinstance(a, dict) and _blocks_ok(a.get("blocks", [])) for a in attachments
        ):
            return rec, "invalid_attachments"
        return rec, None

    async def post_message(self, request: web.Request) -> web.Response:
        rec, error = await self._common(request)
        if error:
            return self.error(error)
        body = rec.json
        channel = self.channels.get(str(body.get("channel", "")))
        if channel is None:
            return self.error("channel_not_found")
        if not isinstance(body.get("text"), str) or not body["text"]:
            return self.error("no_text")
        if len(body["text"]) > 40_000:
            return self.error("msg_too_long")
        thread = body.get("thread_ts")
        if thread is not None and (channel, thread) not in self.messages:
            return self.error("thread_not_found")
        n = next(self._ts)
        ts = f"{1_767_600_000 + n}.{n:06d}"
        self.messages[(channel, ts)] = dict(body, channel=channel, ts=ts)
        self.accepted.append(rec)
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": body})

    async def update(self, request: web.Request) -> web.Response:
        rec, error = await self._common(request)
        if error:
            return self.error(error)
        body = rec.json
        channel, ts = str(body.get("channel", "")), str(body.get("ts", ""))
        if channel not in self.channels.values():  # chat.update takes IDs only
            return self.error("channel_not_found")
        if (channel, ts) not in self.messages:
            return self.error("message_not_found")
        if not body.get("text") and not body.get("blocks"):
            return self.error("no_text")
        self.messages[(channel, ts)].update(body)
        self.updates.append(body)
        self.accepted.append(rec)
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "text": body["text"]})


class SlackWebhook(Fake):
    """A Slack incoming webhook: JSON with text or blocks; plain-text answers."""

    PATH = "/services/T0000001/B0000001/"

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    @property
    def hook_url(self) -> str:
        return self.url + self.PATH + self.secret

    def routes(self, app: web.Application) -> None:
        app.router.add_post(self.PATH + "{secret}", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        if request.match_info["secret"] != self.secret:
            return web.Response(status=404, text="no_service")
        body = rec.json
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        has_text = isinstance(body.get("text"), str) and bool(body["text"])
        has_blocks = bool(body.get("blocks"))
        if not (has_text or has_blocks):
            return web.Response(status=400, text="invalid_payload")
        if "blocks" in body and not _blocks_ok(body["blocks"]):
            return web.Response(status=400, text="invalid_blocks")
        self.accepted.append(rec)
        return web.Response(text="ok")


class PagerDuty(Fake):
    """PagerDuty Events API v2 ``/v2/enqueue``; keeps each incident's state by dedup key."""

    SEVERITIES = frozenset({"critical", "error", "warning", "info"})
    ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})

    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, str] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self.enqueue)

    async def enqueue(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        errors = self.validate(rec)
        if errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        event = rec.json
        key = event.get("dedup_key") or uuid.uuid4().hex
        self.incidents[key] = {"trigger": "triggered", "acknowledge": "acknowledged"}.get(
            event["event_action"], "resolved"
        )
        self.accepted.append(rec)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )

    def validate(self, rec: Recorded) -> list[str]:
        if len(rec.body) > 512 * 1024:
            return ["Event object is larger than 512KB"]
        event = rec.json
        if not isinstance(event, dict):
            return ["Event object is not valid JSON"]
        errors = []
        key = event.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errors.append("'routing_key' must be a 32 character string")
        action = event.get("event_action")
        if action not in self.ACTIONS:
            errors.append("'event_action' is invalid")
        dedup = event.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                return [*errors, "'payload' is missing"]
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                errors.append("'payload.summary' must be 1-1024 characters")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                errors.append("'payload.source' is missing")
            if payload.get("severity") not in self.SEVERITIES:
                errors.append("'payload.severity' is invalid")
        links = event.get("links", [])
        if not isinstance(links, list) or not all(
            isinstance(link, dict) and isinstance(link.get("href"), str) for link in links
        ):
            errors.append("'links' must be a list of {href, text}")
        return errors


# SendGrid refuses these in ``headers`` (it sets them itself); Message-ID is allowed.
RESERVED_HEADERS = frozenset(
    {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
     "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}
)  # fmt: skip


class SendGrid(Fake):
    """SendGrid ``/v3/mail/send``: 202 with an empty body and ``X-Message-Id``."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/mail/send", self.send)

    @staticmethod
    def errors(status: int, *messages: str) -> web.Response:
        items = [{"message": m, "field": None, "help": None} for m in messages]
        return web.json_response({"errors": items}, status=status)

    async def send(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.errors(
                401, "The provided authorization grant is invalid, expired, or revoked"
            )
        if not isinstance(rec.json, dict):
            return self.errors(400, "Bad Request")
        problems = self.validate(rec.json)
        if problems:
            return self.errors(400, *problems)
        self.accepted.append(rec)
        return web.Response(status=202, headers={"X-Message-Id": uuid.uuid4().hex[:22]})

    def validate(self, mail: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        people = mail.get("personalizations")
        if not isinstance(people, list) or not people:
            return ["The personalizations field is required and must have at least one item."]
        total = 0
        for p in people:
            to = p.get("to") if isinstance(p, dict) else None
            if not isinstance(to, list) or not to:
                problems.append("The to array is required for all personalization objects.")
                continue
            emails = [str(t.get("email", "")) if isinstance(t, dict) else "" for t in to]
            if not all(EMAIL.match(e) for e in emails):
                problems.append("Does not contain a valid address.")
            if len({e.lower() for e in emails}) != len(emails):
                problems.append("Each email address in the personalization block should be unique.")
            total += len(emails)
        if total > 1000:
            problems.append("The total number of recipients must be no more than 1000.")
        headers = mail.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            problems.append("The headers parameter must be an object of strings.")
        elif RESERVED_HEADERS & {k.lower() for k in headers}:
            problems.append("The headers parameter contains a reserved header.")
        sender = mail.get("from")
        if not isinstance(sender, dict) or not EMAIL.match(str(sender.get("email", ""))):
            problems.append("The from object must be provided for every email send.")
        if not isinstance(mail.get("subject"), str) or not mail["subject"]:
            problems.append("The subject is required.")
        content = mail.get("content")
        if not isinstance(content, list) or not content:
            problems.append("The content field is required.")
        else:
            if not all(
                isinstance(c, dict)
                and c.get("type")
                and isinstance(c.get("value"), str)
                and c["value"]
                for c in content
            ):
                problems.append("Each content object must have a type and a non-empty value.")
            types = [c.get("type") for c in content if isinstance(c, dict)]
            if "text/plain" in types and types[0] != "text/plain":
                problems.append("If present, text/plain content must be first.")
        return problems


class Twilio(Fake):
    """Twilio ``Messages.json``: Basic auth, form fields, 201 with a queued ``SM…`` sid."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)

    @staticmethod
    def error(status: int, code: int, message: str) -> web.Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return web.json_response(body, status=status)

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return (
            request.headers.get("Authorization") == f"Basic {expected}"
            and request.match_info["sid"] == self.account_sid
        )

    async def create(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        if not self._authorised(request):
            return self.error(401, 20003, "Authenticate")
        form = rec.form
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not E164.match(to):
            return self.error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender and not form.get("MessagingServiceSid"):
            return self.error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return self.error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return self.error(400, 21617, "The concatenated message body exceeds 1600 characters.")
        self.accepted.append(rec)
        message = {
            "sid": "SM" + uuid.uuid4().hex,
            "status": "queued",
            "to": to,
            "from": sender,
            "body": body,
            "num_segments": "1" if len(body) <= 160 else str(-(-len(body) // 153)),
        }
        return web.json_response(message, status=201)


class Receiver(Fake):
    """A webhook receiver that checks sentinel's signature when it knows the secret."""

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/{token}", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        if self.secret is not None:
            ts = request.headers.get("X-Sentinel-Timestamp", "")
            mac = hmac.new(self.secret.encode(), ts.encode() + b"." + rec.body, hashlib.sha256)
            if request.headers.get("X-Sentinel-Signature") != "sha256=" + mac.hexdigest():
                return web.Response(status=401, text="bad signature")
        if not isinstance(rec.json, dict):
            return web.Response(status=400, text="not JSON")
        self.accepted.append(rec)
        return web.Response(status=204)


def alert(**changes: Any) -> AlertFacts:
    """A typical firing alert; keyword arguments replace fields."""
    facts: dict[str, Any] = {
        "fingerprint": "a1b2c3d4e5f60718",
        "rule": "ServiceDown",
        "check": "production-api",
        "severity": "critical",
        "summary": "production API is not answering",
        "value": 0.0,
        "labels": {"env": "prod", "service": "api"},
        "reason": "connection refused",
        "since": T0,
        "runbook": "https://runbooks.example.com/service-down",
        "ack_url": "https://sentinel.example.com/ack/a1b2c3?sig=x",
        "ack_ref": "a1b2c3",
        "oncall": "alice",
    }
    facts.update(changes)
    return AlertFacts(**facts)


def notice(kind: Any = "firing", **changes: Any) -> Notice:
    """A notice of ``kind`` about :func:`alert`, 65 minutes after it fired."""
    fields: dict[str, Any] = {"kind": kind, "at": T0 + 3900, "alert": alert()}
    if kind == "test":
        fields.update(alert=None, text="hello from the test")
    if kind == "digest":
        down, disk = alert(), alert(fingerprint="f00d", rule="DiskFull", severity="high")
        fields.update(
            alert=None,
            alerts=(down, disk),
            entries=(
                Folded(kind="firing", at=T0, alert=down),
                Folded(kind="escalation", at=T0 + 900, alert=disk, step=1),
                Folded(kind="resolved", at=T0 + 3900, alert=down, duration=3900.0),
            ),
        )
    if kind == "acknowledged":
        fields["acked_by"] = "bob"
    if kind == "resolved":
        fields["duration"] = 3900.0
    fields.update(changes)
    return Notice(**fields)


# -- switchable failures (tests/reliability) ------------------------------------

HOLD = 120.0  # seconds a held request waits for release() at most


def hold_next(fake: Fake, skip: int = 0) -> None:
    """Let ``skip`` requests through, then process the next one normally (accepted)
    but hold its answer until :func:`release`: a provider that handled a request
    whose answer never reached the sender."""
    fake.inject(*[Fault(None) for _ in range(skip)], Held(200, body=fake))


class _Held(web.Response):
    """Runs the route's own handler, then holds its answer until the fake's release."""

    def __init__(self, fake: Fake) -> None:
        super().__init__()
        self._fake = fake

    async def prepare(self, request: web.BaseRequest) -> Any:
        assert isinstance(request, web.Request)
        handler = request.match_info.handler
        answer = await handler(request)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._fake._release.wait(), HOLD)
        assert isinstance(answer, web.Response)
        self.set_status(answer.status)
        self.body = answer.body
        self.content_type = answer.content_type
        return await super().prepare(request)


@dataclass(frozen=True)
class Held(Fault):
    """See :func:`hold_next`; ``body`` is the fake."""

    def response(self) -> web.Response:
        return _Held(self.body)


def release(fake: Fake) -> None:
    """End every hold of ``fake`` now; later holds wait again."""
    fake._release.set()
    fake._release = asyncio.Event()


class _Reset(web.Response):
    """Not an answer: the connection is reset when aiohttp would send it."""

    async def prepare(self, request: web.BaseRequest) -> Any:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("reset by the fake")


@dataclass(frozen=True)
class Reset(Fault):
    """A fault that resets the connection instead of answering."""

    def response(self) -> web.Response:
        return _Reset()


class _Echo(web.Response):
    """An error page that repeats the request: its headers and its body."""

    async def prepare(self, request: web.BaseRequest) -> Any:
        body = await request.read()
        echoed = {"error": "internal error", "headers": dict(request.headers)}
        self.text = json.dumps(echoed) + "\n" + body.decode(errors="replace")
        return await super().prepare(request)


@dataclass(frozen=True)
class Echo(Fault):
    """A fault whose body echoes the request (headers, credentials and body)."""

    def response(self) -> web.Response:
        return _Echo(status=self.status or 500, content_type="text/plain")


class Outage(deque[Fault]):
    """Installed as a fake's ``faults`` (``fake.faults = Outage()``): while ``mode`` is
    set every request fails that way; scripted faults still come first.

        "500"      HTTP 500 with a body that echoes the request's Authorization header
                   (a provider error that repeats the credential)
        "timeout"  no answer for ``delay`` seconds (longer than the client's timeout)
        "reset"    the connection is reset
        "429"      HTTP 429 with ``Retry-After: retry_after`` and, when ``now`` gives the
                   sender's clock, ``X-RateLimit-Reset`` (SendGrid's epoch seconds)
    """

    def __init__(
        self,
        mode: str | None = None,
        retry_after: float = 30.0,
        delay: float = 5.0,
        now: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.now = now
        self.mode = mode
        self.retry_after = retry_after
        self.delay = delay
        self.failed = 0  # requests failed by the mode

    def __bool__(self) -> bool:
        return self.mode is not None or len(self) > 0

    def popleft(self) -> Fault:
        if len(self):
            return super().popleft()
        self.failed += 1
        if self.mode == "500":
            return Echo(500)
        if self.mode == "timeout":
            return Fault(503, "late", delay=self.delay)
        if self.mode == "reset":
            return Reset()
        if self.mode == "429":
            headers = {"Retry-After": f"{self.retry_after:g}"}
            if self.now is not None:
                headers["X-RateLimit-Reset"] = str(int(self.now() + self.retry_after))
            return Fault(429, "slow down", headers=headers)
        raise ValueError(f"unknown outage mode {self.mode!r}")
