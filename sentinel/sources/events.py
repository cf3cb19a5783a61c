"""PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/)
-> :class:`Inbound`, and PagerDuty's own answers, so a tool that pages PagerDuty pages
through sentinel by changing one URL.

``routing_key`` selects and authenticates the source, ``dedup_key`` names the alert
(a trigger without one gets a new key, answered back as PagerDuty does);
``trigger`` fires or continues it, ``acknowledge`` acknowledges it, ``resolve``
resolves it. Payload severity (critical, error, warning, info) is the ``severity``
label, mapped like any source's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sentinel.sources.inbound import Inbound, Malformed, clean_labels, clip, maybe, plain

ACTIONS: dict[str, Literal["firing", "resolved", "acknowledge"]] = {
    "trigger": "firing",
    "acknowledge": "acknowledge",
    "resolve": "resolved",
}
MAX_KEY = 255  # PagerDuty's dedup_key limit


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class Link(_Model):
    href: str
    text: str = ""


class EventPayload(_Model):
    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: str = ""  # not used: order is arrival order, as at PagerDuty
    component: str = ""
    group: str = ""
    class_: str = Field(default="", alias="class")
    custom_details: Any = None


class Event(_Model):
    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str = Field(default="", max_length=MAX_KEY)
    payload: EventPayload | None = None
    links: list[Link] = []


@dataclass(frozen=True, slots=True)
class Parsed:
    routing_key: str
    inbound: Inbound


def parse(body: bytes, new_key: Callable[[], str] = lambda: uuid.uuid4().hex) -> Parsed:
    """One event; Malformed with PagerDuty-style wording for an invalid one."""
    try:
        event = Event.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Malformed(f"'{where}' is invalid: {first['msg']}") from None
    status = ACTIONS[event.event_action]
    key = plain(event.dedup_key)
    if status != "firing":
        if not key:
            raise Malformed("'dedup_key' is required for acknowledge and resolve")
        return Parsed(event.routing_key, Inbound(key=key, status=status, labels=()))
    payload = event.payload
    if payload is None:
        raise Malformed("'payload' is required for trigger")
    labels = {
        "alertname": payload.class_ or payload.component or "event",
        "severity": payload.severity,
        "source": payload.source,
        "dedup_key": key or "",
        **({"component": payload.component} if payload.component else {}),
        **({"group": payload.group} if payload.group else {}),
    }
    key = key or new_key()
    labels["dedup_key"] = key
    details = payload.custom_details
    description = details if isinstance(details, str) else ""
    if details is not None and not description:
        description = json.dumps(details, sort_keys=True, ensure_ascii=False)
    return Parsed(
        event.routing_key,
        Inbound(
            key=key,
            status="firing",
            labels=clean_labels(labels),
            summary=clip(payload.summary),
            description=clip(description),
            link=maybe(event.links[0].href) if event.links else None,
        ),
    )


def accepted(dedup_key: str) -> dict[str, str]:
    """PagerDuty's 202 answer."""
    return {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def invalid(reason: str) -> dict[str, Any]:
    """PagerDuty's 400 answer for an invalid event."""
    return {"status": "invalid event", "message": "Event object is invalid", "errors": [reason]}
