"""The public incident page (issue 20): ``GET /public`` when ``server.status_page.public`` is on.

For customers: each recent incident's title, severity, status, start, duration and its
status updates (status, text, when). Nothing else: no contact names or addresses (not
even who wrote an update), no alert labels, rules, checks or fingerprints, no timeline
events but the updates. Off (the default): 404, as if there were no such page.
"""

from __future__ import annotations

from typing import Any, Protocol

import jinja2
from aiohttp import web

from sentinel.config.models import Config
from sentinel.escalation.incidents import Incident, IncidentEvent
from sentinel.escalation.updates import status_of
from sentinel.notify.render import human_duration, utc_minute
from sentinel.store.protocols import IncidentStore

SHOWN = 10  # incidents on the page, newest first

_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}: incidents</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 1em auto; padding: 0 1em;">
<h1>{{ title }}</h1>
{% if not incidents %}<p>No incidents.</p>{% endif %}
{% for i in incidents %}
<section class="incident">
<h2>{{ i.title }}</h2>
<p><strong>{{ i.status | capitalize }}</strong> &middot; {{ i.severity }} &middot;
started {{ i.started }}{% if i.duration %} &middot; lasted {{ i.duration }}{% endif %}</p>
<ul>
{% for u in i.updates %}<li>{{ u.when }} <strong>{{ u.status | capitalize }}</strong>: {{ u.text }}
{% if u.next_steps %}<br>Next steps: {{ u.next_steps }}{% endif %}
{% if u.eta %}<br>ETA: {{ u.eta }}{% endif %}</li>
{% endfor %}
</ul>
</section>
{% endfor %}
</body></html>
"""
)


class PublicSource(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> IncidentStore: ...


def public_view(incident: Incident, events: list[IncidentEvent]) -> dict[str, Any]:
    """What a customer may read of an incident, and nothing more."""
    updates = [
        {
            "when": utc_minute(e.at),
            "status": str(e.detail.get("status", "")),
            "text": str(e.detail.get("text", "")),
            "next_steps": str(e.detail.get("next_steps", "")),
            "eta": utc_minute(e.detail["eta"]) if e.detail.get("eta") is not None else "",
        }
        for e in sorted(events, key=lambda e: e.at, reverse=True)
        if e.kind == "update"
    ]
    return {
        "title": incident.title,
        "severity": incident.severity,
        "status": status_of(incident, events),
        "started": utc_minute(incident.started_at),
        "duration": human_duration(incident.duration) if incident.duration is not None else "",
        "updates": updates,
    }


def add_public_routes(app: web.Application, source: PublicSource) -> None:
    async def public(_: web.Request) -> web.Response:
        if not source.config.server.status_page.public:
            raise web.HTTPNotFound()
        shown = []
        for i in await source.store.incidents(limit=SHOWN):
            found = await source.store.incident(i.id)
            shown.append(public_view(i, found[1] if found else []))
        text = _PAGE.render(title=source.config.server.status_page.title, incidents=shown)
        return web.Response(text=text, content_type="text/html")

    app.router.add_get("/public", public)
