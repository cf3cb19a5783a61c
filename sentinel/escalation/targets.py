"""From a policy's target names to the channels and addresses that reach them, at send time.

    slack-alerts          a channel: its own destination
    alice                 a contact: the methods of ``via`` (default sms, email), each
                          through the first channel of that type; those listed before
                          and at ``voice`` at once, those after it only when the call
                          does not get the alert acknowledged (sentinel.notify.waiting);
                          the contact's other methods are the fallback when one fails
                          for good
    oncall:primary        whoever is on call now, as a contact
    email:ops@example.com the first email channel, to that address

Pure: the time is an argument, so on-call is resolved when the notice is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sentinel.config.models import Config, Contact, serves
from sentinel.escalation.oncall import on_call
from sentinel.notify.outbox import Route

METHOD_CHANNEL = {"sms": "sms", "email": "email", "slack": "slack", "voice": "voice"}
METHOD_ORDER = ("sms", "email", "slack", "voice")


@dataclass(frozen=True, slots=True)
class Resolved:
    route: Route
    fallback: tuple[Route, ...] = ()
    person: str | None = None  # the contact, when the target was one
    after: Route | None = None  # the call (voice route) this method waits for, if any


def channel_of_type(config: Config, kind: str, *, bot: bool = False) -> str | None:
    """The first channel of a type, or of a type that serves that contact method (email:
    SendGrid or SMTP; for Slack direct messages: one with a bot token)."""
    for name, channel in config.channels.items():
        if serves(channel.type) != kind:
            continue
        if bot and getattr(channel, "token", None) is None:
            continue
        return name
    return None


def _method_route(config: Config, contact: Contact, method: str) -> Route | None:
    address = {
        "sms": contact.phone,
        "email": contact.email,
        "slack": contact.slack,
        "voice": contact.phone,
    }[method]
    if address is None:
        return None
    channel = channel_of_type(config, METHOD_CHANNEL[method], bot=method == "slack")
    return None if channel is None else (channel, address)


def reach_contact(config: Config, name: str) -> list[Resolved]:
    contact = config.contacts[name]
    chosen = [(m, r) for m in contact.via if (r := _method_route(config, contact, m)) is not None]
    rest = [
        r
        for m in METHOD_ORDER
        if m not in contact.via and (r := _method_route(config, contact, m)) is not None
    ]
    if not chosen and rest:  # none of `via` is reachable: start with the next method
        return [Resolved(rest[0], tuple(rest[1:]), name)]
    return [Resolved(route, tuple(rest), name, after) for route, after in call_first(chosen)]


def call_first(chosen: Sequence[tuple[str, Route]]) -> list[tuple[Route, Route | None]]:
    """Each reachable method of ``via``, in order, with the call it waits for: the methods
    after a reachable ``voice`` wait for that call, the others go at once (so a ``via``
    without voice sends everything at once, as it always did)."""
    call: Route | None = None
    out: list[tuple[Route, Route | None]] = []
    for method, route in chosen:
        out.append((route, call))
        if method == "voice" and call is None:
            call = route
    return out


def resolve(config: Config, target: str, at: datetime) -> list[Resolved]:
    """The routes of one target now; [] when it reaches nobody (checked at load time)."""
    kind, _, rest = target.partition(":")
    if rest and kind == "oncall":
        rotation = config.oncall.get(rest)
        if rotation is None:
            return []
        return reach_contact(config, on_call(rotation, at))
    if rest and kind == "email":
        channel = channel_of_type(config, "email")
        return [] if channel is None else [Resolved((channel, rest))]
    if target in config.channels:
        return [Resolved((target, None))]
    if target in config.contacts:
        return reach_contact(config, target)
    return []


def who_is_on_call(config: Config, at: datetime) -> dict[str, str]:
    return {name: on_call(rotation, at) for name, rotation in config.oncall.items()}
