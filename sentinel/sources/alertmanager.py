"""Alertmanager's webhook payload (version 4) -> :class:`Inbound` per alert.

The fields are Alertmanager's documented webhook_config body
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config); fields
it does not know (newer ones such as ``notification_reason``, ``routeLabels``) are
ignored. Grafana's webhook contact point sends the same shape with more fields
(:mod:`sentinel.sources.grafana`).
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from sentinel.sources.inbound import (
    Inbound,
    Malformed,
    clean_labels,
    clip,
    label_key,
    maybe,
    parse_time,
    plain,
)


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class WebhookAlert(Payload):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: str = ""
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""


class Webhook(Payload):
    version: str = "4"
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    alerts: list[WebhookAlert]


W = TypeVar("W", bound="Webhook")


def read(body: bytes, model: type[W]) -> W:
    """The payload, or Malformed naming the first problem (never the values)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Malformed(f"{where}: {first['msg']}") from None


def alert_of(alert: WebhookAlert, i: int) -> Inbound:
    labels = clean_labels(alert.labels)
    notes = alert.annotations
    return Inbound(
        key=plain(alert.fingerprint) or label_key(labels),
        status=alert.status,
        labels=labels,
        summary=clip(notes.get("summary") or notes.get("message")),
        description=clip(notes.get("description")),
        runbook=maybe(notes.get("runbook_url") or notes.get("runbook")),
        link=maybe(alert.generatorURL),
        starts_at=parse_time(alert.startsAt, f"alerts.{i}.startsAt"),
        ends_at=parse_time(alert.endsAt, f"alerts.{i}.endsAt"),
    )


def parse(body: bytes) -> list[Inbound]:
    """Every alert of the group, in order."""
    return [alert_of(a, i) for i, a in enumerate(read(body, Webhook).alerts)]
