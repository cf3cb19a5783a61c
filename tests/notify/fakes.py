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
from xml.etree import ElementTree

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


def _button_ok(e: Any) -> bool:
    """A Block Kit button as Slack's reference has it: plain_text label of at most 75
    characters, action_id up to 255, value up to 2000, style primary or danger."""
    text = e.get("text") if isinstance(e, dict) else None
    return (
        isinstance(e, dict)
        and e.get("type") == "button"
        and isinstance(text, dict)
        and text.get("type") == "plain_text"
        and isinstance(text.get("text"), str)
        and 0 < len(text["text"]) <= 75
        and isinstance(e.get("action_id"), str)
        and 0 < len(e["action_id"]) <= 255
        and isinstance(e.get("value", ""), str)
        and len(e.get("value", "")) <= 2000
        and e.get("style", "primary") in ("primary", "danger")
    )


def _blocks_ok(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for b in blocks:
        if not (isinstance(b, dict) and isinstance(b.get("type"), str) and b["type"]):
            return False
        if b["type"] == "actions":
            elements = b.get("elements")
            if not (isinstance(elements, list) and 0 < len(elements) <= 25):
                return False
            if not all(_button_ok(e) for e in elements):
                return False
            ids = [e["action_id"] for e in elements]
            if len(set(ids)) != len(ids):  # action_ids must be unique within a block
                return False
    return True


class SlackApi(Fake):
    """Slack Web API: ``chat.postMessage``, ``chat.update`` and ``chat.postEphemeral``;
    every error is HTTP 200."""

    def __init__(self, token: str, channels: dict[str, str] | None = None) -> None:
        super().__init__()
        self.token = token
        # Names and IDs a message may be posted to, each mapped to the channel ID.
        self.channels = channels or {"#ops": "C0OPS", "C0OPS": "C0OPS", "@alice": "D0ALICE"}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        self._ts = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat.postMessage", self.post_message)
        app.router.add_post("/api/chat.update", self.update)
        app.router.add_post("/api/chat.postEphemeral", self.post_ephemeral)

    async def post_ephemeral(self, request: web.Request) -> web.Response:
        """``channel`` and ``user`` (a member ID) required, and ``text`` or ``blocks``."""
        rec, error = await self._common(request)
        if error:
            return self.error(error)
        body = rec.json
        channel = self.channels.get(str(body.get("channel", "")))
        if channel is None:
            return self.error("channel_not_found")
        if not str(body.get("user", "")).startswith(("U", "W")):
            return self.error("user_not_found")
        if not body.get("text") and not body.get("blocks"):
            return self.error("no_text")
        self.ephemeral.append(body)
        self.accepted.append(rec)
        return web.json_response({"ok": True, "message_ts": f"{1_767_600_000}.000001"})

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
    """An error page that repeats the request: its path and query, headers and body."""

    async def prepare(self, request: web.BaseRequest) -> Any:
        body = await request.read()
        echoed = {
            "error": "internal error",
            "url": request.path_qs,  # a URL that carries a credential comes back too
            "headers": dict(request.headers),
        }
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


# -- chat webhooks: Teams, Discord, Mattermost --------------------------------

TEAMS_CARD = "application/vnd.microsoft.card.adaptive"
TEAMS_ELEMENTS = frozenset(
    {"TextBlock", "FactSet", "Container", "ColumnSet", "Image", "ActionSet", "RichTextBlock"}
)
TEAMS_ACTIONS = frozenset(
    {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility"}
)


class TeamsWorkflow(Fake):
    """A Teams Workflows (Power Automate) webhook trigger: ``sig`` in the query is the
    credential; an Adaptive Card message of at most 28 KB; 202 with an empty body."""

    PATH = "/workflows/{flow}/triggers/manual/paths/invoke"
    FLOW = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    MAX_BYTES = 28 * 1024

    def __init__(self, sig: str) -> None:
        super().__init__()
        self.sig = sig
        self.cards: list[dict[str, Any]] = []

    def hook_url(self, sig: str | None = None) -> str:
        return self.at(self.url, sig or self.sig)

    @classmethod
    def at(cls, base: str, sig: str) -> str:
        """The trigger URL a flow shows, on ``base``."""
        query = "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig="
        return base + cls.PATH.format(flow=cls.FLOW) + query + sig

    def routes(self, app: web.Application) -> None:
        app.router.add_post(self.PATH, self.invoke)

    @staticmethod
    def error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    async def invoke(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        if request.match_info["flow"] != self.FLOW:
            return self.error(404, "WorkflowNotFound", "The workflow could not be found.")
        if "sig" not in request.query:
            return self.error(401, "DirectApiAuthorizationRequired", "No signature.")
        if request.query["sig"] != self.sig:
            # Logic Apps echo the URL they were called with: a notifier must not repeat it.
            return self.error(
                401,
                "DirectApiInvalidAuthorizationSignature",
                f"The provided signature for {request.url} is not valid.",
            )
        if len(rec.body) > self.MAX_BYTES:
            return self.error(413, "RequestEntityTooLarge", "The message is too large.")
        problem = self.validate(rec.json)
        if problem:
            return self.error(400, "InvalidRequestContent", problem)
        self.cards.extend(a["content"] for a in rec.json["attachments"])
        self.accepted.append(rec)
        return web.Response(status=202)

    def validate(self, message: Any) -> str:
        if not isinstance(message, dict) or message.get("type") != "message":
            return "the body must be a message"
        attachments = message.get("attachments")
        if not isinstance(attachments, list) or not attachments:
            return "attachments are required"
        for a in attachments:
            if not isinstance(a, dict) or a.get("contentType") != TEAMS_CARD:
                return "each attachment must be an Adaptive Card"
            content = a.get("content")
            if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
                return "content must be an AdaptiveCard"
            if content.get("version") not in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5"):
                return "unsupported card version"
            problem = self._elements(content.get("body", []))
            if problem:
                return problem
            for action in content.get("actions", []):
                if not isinstance(action, dict) or action.get("type") not in TEAMS_ACTIONS:
                    return "unknown action"
                if action["type"] == "Action.OpenUrl" and not str(action.get("url", "")).startswith(
                    ("https://", "http://")
                ):
                    return "Action.OpenUrl needs an absolute url"
        return ""

    def _elements(self, elements: Any) -> str:
        if not isinstance(elements, list):
            return "body must be a list"
        for e in elements:
            kind = e.get("type") if isinstance(e, dict) else None
            if kind not in TEAMS_ELEMENTS:
                return f"unknown element {kind!r}"
            if kind == "TextBlock" and (not isinstance(e.get("text"), str) or not e["text"]):
                return "TextBlock needs text"
            if kind == "FactSet" and not all(
                isinstance(f, dict)
                and isinstance(f.get("title"), str)
                and isinstance(f.get("value"), str)
                for f in e.get("facts", [None])
            ):
                return "FactSet needs facts of title and value"
            if kind == "Container" and (problem := self._elements(e.get("items"))):
                return problem
        return ""


class DiscordWebhook(Fake):
    """A Discord channel webhook: ``POST`` (``?wait=true`` answers the message) and
    ``PATCH …/messages/{id}``; Discord's embed limits; JSON errors with a ``code``."""

    ID = "112233445566778899"
    PATH = "/api/webhooks/{id}/{token}"

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.messages: dict[str, dict[str, Any]] = {}
        self.edits: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)

    def hook_url(self, token: str | None = None) -> str:
        return self.url + self.PATH.format(id=self.ID, token=token or self.token)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(self.PATH, self.execute)
        app.router.add_patch(self.PATH + "/messages/{message}", self.edit)

    @staticmethod
    def error(status: int, code: int, message: str, **extra: Any) -> web.Response:
        return web.json_response({"message": message, "code": code, **extra}, status=status)

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.match_info["id"] != self.ID:
            return self.error(404, 10015, "Unknown Webhook")
        if request.match_info["token"] != self.token:
            return self.error(401, 50027, "Invalid Webhook Token")
        return None

    async def execute(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        refused = self._auth(request) or self.validate(rec)
        if refused:
            return refused
        mid = str(1_300_000_000_000_000_000 + next(self._ids))
        self.messages[mid] = rec.json
        self.accepted.append(rec)
        if request.query.get("wait") != "true":
            return web.Response(status=204)
        return web.json_response({"id": mid, "channel_id": "998877", **rec.json})

    async def edit(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        refused = self._auth(request) or self.validate(rec)
        if refused:
            return refused
        mid = request.match_info["message"]
        if mid not in self.messages:
            return self.error(404, 10008, "Unknown Message")
        self.messages[mid] = {**self.messages[mid], **rec.json}
        self.edits.append((mid, rec.json))
        self.accepted.append(rec)
        return web.json_response({"id": mid, **self.messages[mid]})

    def validate(self, rec: Recorded) -> web.Response | None:
        body = rec.json
        if not isinstance(body, dict):
            return self.error(400, 50109, "The request body contains invalid JSON.")
        errors: dict[str, str] = {}
        content, embeds = body.get("content", ""), body.get("embeds", [])
        if not content and not embeds and _creates(rec):
            return self.error(400, 50006, "Cannot send an empty message")
        if len(content) > 2000:
            errors["content"] = "Must be 2000 or fewer in length."
        if not isinstance(embeds, list) or len(embeds) > 10:
            errors["embeds"] = "Must be 10 or fewer in length."
            embeds = []
        for i, e in enumerate(embeds):
            errors.update({f"embeds.{i}.{k}": v for k, v in self._embed(e).items()})
        name = body.get("username")
        if name is not None and (
            not 1 <= len(name) <= 80 or any(w in name.lower() for w in ("discord", "clyde"))
        ):
            errors["username"] = "Username cannot contain discord or clyde."
        parse = (body.get("allowed_mentions") or {}).get("parse", [])
        if not set(parse) <= {"roles", "users", "everyone"}:
            errors["allowed_mentions"] = "Invalid parse value."
        if errors:
            return self.error(400, 50035, "Invalid Form Body", errors=errors)
        return None

    @staticmethod
    def _embed(e: Any) -> dict[str, str]:
        if not isinstance(e, dict):
            return {"": "Must be an object."}
        errors = {}
        limits = {"title": 256, "description": 4096}
        for key, limit in limits.items():
            if len(str(e.get(key, ""))) > limit:
                errors[key] = f"Must be {limit} or fewer in length."
        fields = e.get("fields", [])
        if len(fields) > 25:
            errors["fields"] = "Must be 25 or fewer in length."
        for j, f in enumerate(fields):
            name, value = f.get("name"), f.get("value")
            if not isinstance(name, str) or not name or len(name) > 256:
                errors[f"fields.{j}.name"] = "Must be between 1 and 256 in length."
            if not isinstance(value, str) or not value or len(value) > 1024:
                errors[f"fields.{j}.value"] = "Must be between 1 and 1024 in length."
        footer = str((e.get("footer") or {}).get("text", ""))
        if len(footer) > 2048:
            errors["footer.text"] = "Must be 2048 or fewer in length."
        color = e.get("color", 0)
        if not isinstance(color, int) or not 0 <= color <= 0xFFFFFF:
            errors["color"] = "Must be an integer colour."
        total = len(str(e.get("title", ""))) + len(str(e.get("description", ""))) + len(footer)
        total += sum(len(str(f.get("name", ""))) + len(str(f.get("value", ""))) for f in fields)
        if total > 6000:
            errors["embeds"] = "Embed size exceeds maximum size of 6000"
        return errors


def _creates(rec: Recorded) -> bool:
    return "/messages/" not in rec.path


class MattermostHook(Fake):
    """A Mattermost incoming webhook ``/hooks/{key}``: JSON with ``text`` or
    ``attachments``; 200 ``ok``; errors as ``{"id": "web.incoming_webhook…"}``."""

    TEXT_LIMIT = 16383

    def __init__(
        self, key: str, channels: frozenset[str] = frozenset({"alerts", "town-square"})
    ) -> None:
        super().__init__()
        self.key = key
        self.channels = channels
        self.users = frozenset({"alice", "bob"})

    def hook_url(self, key: str | None = None) -> str:
        return f"{self.url}/hooks/{key or self.key}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/{key}", self.hook)

    @staticmethod
    def error(status: int, ident: str, message: str) -> web.Response:
        body = {"id": ident, "message": message, "detailed_error": "", "status_code": status}
        return web.json_response(body, status=status)

    async def hook(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        body = rec.json
        if not isinstance(body, dict):
            return self.error(400, "web.incoming_webhook.parse.app_error", "Unable to parse.")
        text, attachments = body.get("text", ""), body.get("attachments")
        if not text and attachments is None:
            return self.error(400, "web.incoming_webhook.text.app_error", "No text specified.")
        if request.match_info["key"] != self.key:
            return self.error(400, "web.incoming_webhook.invalid.app_error", "Invalid webhook.")
        if not isinstance(text, str) or len(text) > self.TEXT_LIMIT:
            return self.error(400, "model.post.is_valid.msg.app_error", "Invalid message.")
        if attachments is not None and not (
            isinstance(attachments, list)
            and all(
                isinstance(a, dict)
                and all(
                    isinstance(f, dict) and isinstance(f.get("title"), str)
                    for f in a.get("fields", [])
                )
                for a in attachments
            )
        ):
            return self.error(400, "web.incoming_webhook.parse.app_error", "Unable to parse.")
        channel = str(body.get("channel") or "")
        if channel.startswith("@") and channel[1:] not in self.users:
            return self.error(400, "web.incoming_webhook.user.app_error", "Couldn't find the user.")
        if channel and not channel.startswith("@") and channel.lstrip("#") not in self.channels:
            return self.error(
                400, "web.incoming_webhook.channel.app_error", "Couldn't find the channel."
            )
        self.accepted.append(rec)
        return web.Response(text="ok", content_type="text/plain")


class TwilioCalls(Twilio):
    """Twilio ``Calls.json``: Basic auth, ``To``, ``From`` and one of ``Twiml`` or ``Url``;
    201 with a queued ``CA…`` sid. Inline TwiML is at most 4,000 characters and
    must be XML; a ``StatusCallback`` must be an absolute http(s) URL."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__(account_sid, auth_token)
        self.sids: list[str] = []  # of the accepted calls, in order

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self.call)

    async def call(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        if not self._authorised(request):
            return self.error(401, 20003, "Authenticate")
        form = rec.form
        to, sender, twiml = form.get("To", ""), form.get("From", ""), form.get("Twiml", "")
        if not to:
            return self.error(400, 21201, "No 'To' number is specified")
        if not E164.match(to):
            return self.error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return self.error(400, 21213, "No 'From' number is specified")
        if not twiml and not form.get("Url"):
            return self.error(400, 21205, "Url or Twiml parameter is required.")
        if len(twiml) > 4000:
            return self.error(400, 21228, "Twiml exceeds 4000 characters.")
        try:
            ElementTree.fromstring(twiml)  # noqa: S314 (our own test input)
        except ElementTree.ParseError:
            return self.error(400, 12100, "Document parse failure")
        callback = form.get("StatusCallback", "")
        if callback and not callback.startswith(("http://", "https://")):
            return self.error(400, 21609, "Invalid StatusCallback URL")
        self.accepted.append(rec)
        call = {"sid": "CA" + uuid.uuid4().hex, "status": "queued", "to": to, "from": sender}
        self.sids.append(call["sid"])
        return web.json_response(call, status=201)


# -- issue 18, part A: ntfy and Telegram -------------------------------------------


class Ntfy(Fake):
    """An ntfy server: ``POST /<topic>``, the body is the message, headers give the rest.

    With ``token`` (or ``basic``: "user:password") the topic is protected: 401 without
    credentials, 403 with wrong ones. Refuses bodies over 4096 bytes (413), priorities
    outside 1-5 and headers that are not Latin-1 (400), as ntfy's errors JSON."""

    LIMIT = 4096
    PRIORITIES = frozenset({"1", "2", "3", "4", "5", "min", "low", "default", "high", "urgent"})
    PRIORITIES |= {"max"}

    def __init__(self, topic: str, token: str | None = None, basic: str | None = None) -> None:
        super().__init__()
        self.topic = topic
        self.token = token
        self.basic = basic
        self.messages: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{topic}", self.publish)

    @staticmethod
    def error(status: int, code: int, text: str) -> web.Response:
        body = {"code": code, "http": status, "error": text, "link": "https://ntfy.sh/docs"}
        return web.json_response(body, status=status)

    async def publish(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        if request.match_info["topic"] != self.topic:
            return self.error(404, 40401, "page not found")
        auth = request.headers.get("Authorization")
        expected = None
        if self.token is not None:
            expected = f"Bearer {self.token}"
        elif self.basic is not None:
            expected = "Basic " + base64.b64encode(self.basic.encode()).decode()
        if expected is not None and auth is None:
            return self.error(401, 40101, "unauthorized")
        if expected is not None and auth != expected:
            return self.error(403, 40301, "forbidden")
        if len(rec.body) > self.LIMIT:
            return self.error(413, 41301, "request entity too large")
        if not rec.body.strip():
            return self.error(400, 40001, "message empty")
        priority = request.headers.get("Priority", "3")
        if priority not in self.PRIORITIES:
            return self.error(400, 40007, "invalid priority")
        for value in request.headers.values():
            if not value.isascii():
                return self.error(400, 40000, "invalid request: header is not ASCII")
        try:
            text = rec.body.decode()
        except UnicodeDecodeError:
            return self.error(400, 40000, "message is not UTF-8")
        message = {
            "id": uuid.uuid4().hex[:12],
            "time": int(T0),
            "event": "message",
            "topic": self.topic,
            "title": request.headers.get("Title", ""),
            "message": text,
            "priority": int(priority) if priority.isdigit() else 3,
            "tags": [t for t in request.headers.get("Tags", "").split(",") if t],
        }
        if "Click" in request.headers:
            message["click"] = request.headers["Click"]
        self.messages.append(message)
        self.accepted.append(rec)
        return web.json_response(message)


TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
) | {"blockquote", "tg-spoiler", "span"}
_TAG = re.compile(r"<(/?)([a-z-]+)((?:\s+[a-z-]+=\"[^\"<>]*\")*)\s*>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


def telegram_html(text: str) -> str | None:
    """The text a Telegram client shows for ``text`` in HTML parse mode, or None when
    Telegram would answer "can't parse entities" (an unknown or unclosed tag, a bare
    ``<`` or ``&``)."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            m = _TAG.match(text, i)
            if m is None or m.group(2) not in TELEGRAM_TAGS:
                return None
            if m.group(1):
                if not stack or stack.pop() != m.group(2):
                    return None
            else:
                stack.append(m.group(2))
            i = m.end()
        elif char == "&":
            m = _ENTITY.match(text, i)
            if m is None:
                return None
            out.append({"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(m.group(1), "?"))
            i = m.end()
        elif char == ">":
            return None
        else:
            out.append(char)
            i += 1
    return None if stack else "".join(out)


class TelegramBot(Fake):
    """Telegram Bot API ``sendMessage`` and ``editMessageText`` for one bot and its chats.

    Errors as Telegram gives them: ``{"ok": false, "error_code", "description"}``;
    401 for a wrong token, 400 for an unknown chat, empty or over-long text (4096
    characters after parsing) or HTML it cannot parse, 403 when the bot is not in the
    chat; 429 carries ``parameters.retry_after``."""

    LIMIT = 4096

    def __init__(self, token: str, chats: dict[str, int] | None = None) -> None:
        super().__init__()
        self.token = token
        self.chats = chats or {"-100123": -100123, "@ops_alerts": -100123, "42": 42}
        self.kicked: set[int] = set()  # chats the bot was removed from
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.edits: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self.call)

    @staticmethod
    def error(status: int, description: str, **extra: Any) -> web.Response:
        body = {"ok": False, "error_code": status, "description": description, **extra}
        return web.json_response(body, status=status)

    async def call(self, request: web.Request) -> web.Response:
        rec = await self.record(request)
        if request.match_info["token"] != self.token:
            return self.error(401, "Unauthorized")
        method = request.match_info["method"]
        if method not in ("sendMessage", "editMessageText"):
            return self.error(404, "Not Found")
        body = rec.json
        if not isinstance(body, dict):
            return self.error(400, "Bad Request: message text is empty")
        chat = self.chats.get(str(body.get("chat_id", "")))
        if chat is None:
            return self.error(400, "Bad Request: chat not found")
        if chat in self.kicked:
            return self.error(403, "Forbidden: bot was kicked from the group chat")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return self.error(400, "Bad Request: message text is empty")
        if body.get("parse_mode", "HTML") != "HTML":
            return self.error(400, "Bad Request: unsupported parse_mode")
        shown = telegram_html(text)
        if shown is None:
            return self.error(400, "Bad Request: can't parse entities: unsupported start tag")
        if len(shown) > self.LIMIT:
            return self.error(400, "Bad Request: message is too long")
        markup = body.get("reply_markup")
        if markup is not None and not self._keyboard_ok(markup):
            return self.error(400, "Bad Request: can't parse inline keyboard button")
        if method == "editMessageText":
            return self._edit(rec, chat, body)
        reply = body.get("reply_parameters")
        if (
            isinstance(reply, dict)
            and (chat, reply.get("message_id")) not in self.messages
            and not reply.get("allow_sending_without_reply")
        ):
            return self.error(400, "Bad Request: message to be replied not found")
        ident = next(self._ids)
        message = {"message_id": ident, "chat": {"id": chat, "type": "supergroup"}, **body}
        self.messages[(chat, ident)] = message
        self.accepted.append(rec)
        return web.json_response({"ok": True, "result": message})

    def _edit(self, rec: Recorded, chat: int, body: dict[str, Any]) -> web.Response:
        key = (chat, body.get("message_id"))
        if key not in self.messages:
            return self.error(400, "Bad Request: message to edit not found")
        old = self.messages[key]
        if old["text"] == body["text"] and old.get("reply_markup") == body.get("reply_markup"):
            return self.error(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        old.update(text=body["text"], reply_markup=body.get("reply_markup"))
        self.edits.append(body)
        self.accepted.append(rec)
        return web.json_response({"ok": True, "result": old})

    @staticmethod
    def _keyboard_ok(markup: Any) -> bool:
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        return isinstance(rows, list) and all(
            isinstance(row, list)
            and all(
                isinstance(b, dict)
                and isinstance(b.get("text"), str)
                and b["text"]
                and str(b.get("url", "")).startswith(("https://", "http://", "tg://"))
                for b in row
            )
            for row in rows
        )
