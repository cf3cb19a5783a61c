"""Grafana alerting's webhook contact point payload -> :class:`Inbound` per alert.

Grafana sends Alertmanager's shape (it embeds Alertmanager) plus its own fields
(https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/):
``orgId``, ``state``, ``title``, ``message`` and per alert ``values``,
``valueString``, ``silenceURL``, ``dashboardURL``, ``panelURL``. The alert's link is
its panel (or dashboard) when Grafana gives one, else the rule's generatorURL.
"""

from __future__ import annotations

from dataclasses import replace

from sentinel.sources.alertmanager import Webhook, WebhookAlert, alert_of, read
from sentinel.sources.inbound import Inbound, clip, maybe


class GrafanaAlert(WebhookAlert):
    dashboardURL: str = ""
    panelURL: str = ""
    valueString: str = ""


class GrafanaWebhook(Webhook):
    alerts: list[GrafanaAlert]  # type: ignore[assignment]


def parse(body: bytes) -> list[Inbound]:
    out = []
    for i, alert in enumerate(read(body, GrafanaWebhook).alerts):
        inbound = alert_of(alert, i)
        link = maybe(alert.panelURL or alert.dashboardURL) or inbound.link
        description = inbound.description
        if alert.valueString and not description:
            description = clip(f"Values: {alert.valueString}")
        out.append(replace(inbound, link=link, description=description))
    return out
