"""PagerDuty Events API v2: one incident per alert, keyed by its fingerprint.

``POST {api_url}/v2/enqueue`` with the routing key in the JSON body
(docs/providers.md, "PagerDuty Events API v2"). 202 is success, 400 permanent;
429, 5xx and network failures are retried with our own backoff, since
PagerDuty sends no ``Retry-After``. Acknowledge and resolve reuse the
trigger's ``dedup_key``, so a retried event is harmless: PagerDuty folds it
into the same incident.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sentinel.config.models import PagerDutyChannel
from sentinel.notify.base import AlertFacts, DeliveryError, Notice, Sent
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.http import (
    HttpNotifier,
    Reply,
    post,
    short,
    transient,
    unexpected,
)

SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
ACTION = {
    "firing": "trigger",
    "escalation": "trigger",
    "repeat": "trigger",
    "flapping": "trigger",
    "test": "trigger",
    "digest": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}
SUMMARY_LIMIT = 1024
DEDUP_LIMIT = 255


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PagerDutyNotifier(HttpNotifier):
    min_interval = 0.5  # about 120 events a minute per routing key
    digest = False  # every alert is its own incident: PagerDuty groups them itself

    def __init__(
        self, channel: PagerDutyChannel, deps: NotifierDeps, name: str = "pagerduty"
    ) -> None:
        super().__init__(deps, name)
        self._key = channel.routing_key.get_secret_value()
        self._url = (channel.api_url or "https://events.pagerduty.com").rstrip("/") + "/v2/enqueue"

    def events(self, notice: Notice) -> list[dict[str, Any]]:
        """The events for a notice: one, or one per alert of a digest. A report is
        refused for good: it would open an incident that nobody can resolve; so are incident
        updates and reminders (the escalator never routes them here)."""
        if notice.kind in ("report", "update", "reminder"):
            raise DeliveryError(
                retry=False, reason="unsupported", detail=f"PagerDuty is not sent {notice.kind}s"
            )
        if notice.kind == "digest":
            return [self._event(notice, "trigger", a) for a in notice.alerts]
        return [self._event(notice, ACTION[notice.kind], notice.alert)]

    def _event(self, notice: Notice, action: str, alert: AlertFacts | None) -> dict[str, Any]:
        if alert is None:
            return {
                "routing_key": self._key,
                "event_action": "trigger",
                "dedup_key": f"sentinel-test-{int(notice.at)}",
                "client": "sentinel",
                "payload": {
                    "summary": _cut(notice.text or "sentinel test notification", SUMMARY_LIMIT),
                    "source": "sentinel",
                    "severity": "info",
                    "timestamp": _iso(notice.at),
                    "class": "test",
                },
            }
        event: dict[str, Any] = {
            "routing_key": self._key,
            "event_action": action,
            "dedup_key": alert.fingerprint[:DEDUP_LIMIT],
            "client": "sentinel",
        }
        if action != "trigger":
            return event  # acknowledge and resolve carry only the key
        summary = f"[{alert.severity.upper()}] {alert.rule} {alert.check}"
        if alert.summary:
            summary += f": {alert.summary}"
        details: dict[str, Any] = {
            "value": alert.value,
            "labels": dict(alert.labels),
            "reason": alert.reason,
        }
        if alert.description:
            details["description"] = alert.description
        if alert.oncall:
            details["oncall"] = alert.oncall
        if notice.kind != "firing":
            details["notice"] = notice.kind
            details["step"] = notice.step
        event["payload"] = {
            "summary": _cut(summary, SUMMARY_LIMIT),
            "source": alert.check,
            "severity": SEVERITY.get(alert.severity, "error"),
            "timestamp": _iso(alert.since if alert.since is not None else notice.at),
            "component": alert.check,
            "group": alert.labels.get("service") or alert.labels.get("group") or alert.check,
            "class": alert.rule,
            "custom_details": details,
        }
        links = []
        if alert.runbook:
            links.append({"href": alert.runbook, "text": "Runbook"})
        if alert.ack_url:
            links.append({"href": alert.ack_url, "text": "Acknowledge in sentinel"})
        if links:
            event["links"] = links
        return event

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        """``address`` and ``thread`` do not apply: the routing key picks the service."""
        key = ""
        for event in self.events(notice):
            reply = await post(self._session, self._url, total=self._timeout, json_body=event)
            self._check(reply)
            key = event["dedup_key"]
        return Sent(ref={"dedup_key": key})

    def _check(self, reply: Reply) -> None:
        if reply.status == 202:
            return
        error = transient(reply, self._now())  # no Retry-After: our backoff decides
        if error:
            raise error
        if reply.status == 400:
            data = reply.json()
            errors = data.get("errors") if isinstance(data, dict) else None
            text = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
            detail = "invalid event" + (f": {short(text, (self._key,))}" if text else "")
            raise DeliveryError(retry=False, reason="bad_request", detail=detail)
        raise unexpected(reply)
