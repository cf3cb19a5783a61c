"""Slack's button clicks: Acknowledge and Silence 1h on an alert's message.

POST /slack/interactions   form-encoded ``payload=<JSON>`` (``type: block_actions``),
                           as Slack's interactivity sends it

Every request must be signed by a Slack channel's ``signing_secret``: Slack's v0
scheme, ``X-Slack-Signature: v0=<hex HMAC-SHA256 over "v0:<timestamp>:<raw body>">``
with ``X-Slack-Request-Timestamp`` within five minutes of sentinel's clock
(slack-sdk's ``SignatureVerifier``, which compares in constant time). A signature
seen once is refused when it comes again inside that window (a replay). Unsigned,
stale, forged and replayed requests are 401, counted by reason in
``sentinel_answers_refused_total{via="slack"}``; nothing about them reaches the log
but the reason.

Who clicked is the contact whose ``slack_user`` (or ``slack``, when a member ID) is
the payload's ``user.id``; an unknown user is told so, privately, and nothing is
done. The button's value is the firing (:attr:`AlertFacts.firing`): a click on an
earlier outage's message acts on nothing. Acknowledge goes the one way every
acknowledgement goes (its follow-up notice edits the message: "ACKNOWLEDGED by alice
via slack", buttons gone); when someone had it first, the message is edited to say
who and the clicker is told "Already acknowledged by ...". Silence 1h silences the
alert's rule on its check for an hour and says so in the message's thread.

Slack wants its 200 within three seconds: the answer is sent once the
acknowledgement or the silence is stored, and Slack's own API is called afterwards.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs

import structlog
from aiohttp import web
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

from sentinel.clock import Clock
from sentinel.config.models import Config
from sentinel.escalation.answers import Answered
from sentinel.metrics import Metrics
from sentinel.notify.base import DeliveryError
from sentinel.notify.slack import ACK_ACTION, SILENCE_ACTION, SlackNotifier

log = structlog.get_logger("sentinel.web")
WINDOW = 300.0  # seconds a timestamp may be off, as Slack's documentation asks
SEEN_MAX = 10_000  # signatures remembered against replays (each for WINDOW)
SILENCE_FOR = 3600.0
Refusal = Literal["unsigned", "stale", "forged", "replayed"]


class InteractionSource(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Clock: ...

    async def answer(self, fingerprint: str, firing: str, by: str, via: str) -> Answered: ...

    async def silence_alert(
        self, fingerprint: str, firing: str, by: str, via: str, seconds: float
    ) -> dict[str, Any] | None: ...

    def slack_notifier(self, channel: str) -> SlackNotifier | None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...


class _Now(SlackClock):
    """slack-sdk's clock, read from sentinel's (tests move it)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


class Replays:
    """Signatures seen in the last :data:`WINDOW` seconds, oldest first, at most
    :data:`SEEN_MAX` (the oldest forgotten first: by then its timestamp is stale too
    unless 10,000 signed clicks came within five minutes)."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, signature: str, now: float) -> bool:
        while self._seen and next(iter(self._seen.values())) < now - WINDOW:
            self._seen.popitem(last=False)
        if signature in self._seen:
            return False
        self._seen[signature] = now
        while len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)
        return True


def signing_secrets(config: Config) -> list[tuple[str, str]]:
    """(channel name, signing secret) of every Slack channel with buttons."""
    return [
        (name, c.signing_secret.get_secret_value())
        for name, c in config.channels.items()
        if c.type == "slack"
        and c.signing_secret is not None
        and c.signing_secret.get_secret_value()
    ]


def verify(
    body: bytes, timestamp: str | None, signature: str | None, config: Config, clock: Clock
) -> str | Refusal:
    """The Slack channel whose signing secret signed ``body``, or why it is refused
    (the replay guard is the caller's: it remembers)."""
    if not timestamp or not signature:
        return "unsigned"
    if not timestamp.isdigit() or abs(clock.now().timestamp() - int(timestamp)) > WINDOW:
        return "stale"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "forged"
    for name, secret in signing_secrets(config):
        if SignatureVerifier(secret, clock=_Now(clock)).is_valid(body, timestamp, signature):
            return name
    return "forged"


def contact_of(config: Config, user_id: str) -> str | None:
    """The contact a Slack member ID is: ``slack_user``, else ``slack`` when it is that ID."""
    for name, contact in config.contacts.items():
        if user_id and user_id in (contact.slack_user, contact.slack):
            return name
    return None


@dataclass(frozen=True, slots=True)
class Click:
    """One button press, read from the payload."""

    action: str
    firing: str
    user: str
    channel: str
    ts: str

    @property
    def fingerprint(self) -> str:
        return self.firing.split("@", 1)[0]


def click_of(form: bytes) -> Click | None:
    """The press in a ``block_actions`` payload, or None for anything else."""
    try:
        payload = json.loads(parse_qs(form.decode("utf-8")).get("payload", [""])[0])
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    user, channel, message = (payload.get(k) for k in ("user", "channel", "message"))
    if not (isinstance(actions, list) and actions and isinstance(actions[0], dict)):
        return None
    if not all(isinstance(x, dict) for x in (user, channel, message)):
        return None
    action = actions[0]
    fields = (
        action.get("action_id"),
        action.get("value"),
        user.get("id"),  # type: ignore[union-attr]
        channel.get("id"),  # type: ignore[union-attr]
        message.get("ts"),  # type: ignore[union-attr]
    )
    if not all(isinstance(f, str) and f for f in fields):
        return None
    return Click(*fields)  # type: ignore[arg-type]


def add_slack_routes(app: web.Application, source: InteractionSource, metrics: Metrics) -> None:
    replays = Replays()

    def refused(reason: Refusal) -> web.Response:
        metrics.answers_refused.labels("slack", reason).inc()
        log.warning("slack_interaction_refused", reason=reason)
        return web.Response(status=401, text=f"refused: {reason}\n")

    async def tell(channel: str, job: Coroutine[Any, Any, None]) -> None:
        try:
            await job
        except DeliveryError as exc:
            log.error("slack_answer_failed", channel=channel, reason=exc.reason)

    async def interaction(request: web.Request) -> web.Response:
        body = await request.read()
        headers = request.headers
        verdict = verify(
            body,
            headers.get("X-Slack-Request-Timestamp"),
            headers.get("X-Slack-Signature"),
            source.config,
            source.clock,
        )
        if verdict in ("unsigned", "stale", "forged"):
            return refused(verdict)  # type: ignore[arg-type]
        if not replays.first_time(headers["X-Slack-Signature"], source.clock.now().timestamp()):
            return refused("replayed")
        click = click_of(body)
        notifier = source.slack_notifier(verdict)
        if click is None or click.action not in (ACK_ACTION, SILENCE_ACTION):
            metrics.answers.labels("slack", "ignored").inc()
            return web.Response(status=200)
        who = contact_of(source.config, click.user)
        if who is None:
            metrics.answers.labels("slack", "unknown_user").inc()
            log.warning("slack_unknown_user", channel=verdict)
            if notifier is not None:
                text = (
                    f"Your Slack member ID ({click.user}) is not a sentinel contact's: "
                    f"add `slack_user: {click.user}` to your contact, then press again."
                )
                source.spawn(tell(verdict, notifier.whisper(click.channel, click.user, text)))
            return web.Response(status=200)
        if click.action == SILENCE_ACTION:
            silence = await source.silence_alert(
                click.fingerprint, click.firing, who, "slack", SILENCE_FOR
            )
            outcome = "gone" if silence is None else "silenced"
            metrics.answers.labels("slack", outcome).inc()
            if notifier is not None:
                text = (
                    "This alert is no longer firing."
                    if silence is None
                    else f"Silenced for 1h by {who} (until {silence['ends_at'][11:16]} UTC)."
                )
                source.spawn(tell(verdict, notifier.in_thread(click.channel, click.ts, text)))
            return web.Response(status=200)
        answered = await source.answer(click.fingerprint, click.firing, who, "slack")
        metrics.answers.labels("slack", answered.outcome).inc()
        log.info("slack_answer", outcome=answered.outcome, contact=who)
        if notifier is not None and answered.outcome != "acked":
            # A new ack edits the message through its own follow-up notice (the outbox).
            job = notifier.already(click.channel, click.ts, click.user, answered.facts,
                                   answered.by if answered.outcome == "already" else None)  # fmt: skip
            source.spawn(tell(verdict, job))
        return web.Response(status=200)

    app.router.add_post("/slack/interactions", interaction)
