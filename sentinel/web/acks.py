"""Acknowledging: the API (bearer token) and the signed links sent in notifications.

POST /api/v1/alerts/{id}/ack     {"by": "alice"}   bearer token
POST /api/v1/alerts/{id}/unack                     bearer token
GET  /api/v1/alerts[/{id}]                         read-only
GET  /ack/{fingerprint}/{token}  a confirm page (a phone's link preview must not ack)
POST /ack/{fingerprint}/{token}  acknowledges; the token in the path is the credential,
                                 so a cross-site form cannot forge it
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any, Protocol

from aiohttp import web


class AckSource(Protocol):
    async def acknowledge(self, ref: str, by: str) -> dict[str, Any] | None: ...

    async def unacknowledge(self, ref: str) -> dict[str, Any] | None: ...

    def check_ack_link(self, fingerprint: str, token: str) -> bool | str: ...

    def alert(self, ref: str) -> dict[str, Any] | None: ...

    def status(self) -> dict[str, Any]: ...


Refuse = Callable[[web.Request], web.Response | None]
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>body{{font:16px system-ui,sans-serif;margin:2em auto;max-width:32em;padding:0 1em}}
button{{font-size:1.2em;padding:.5em 1.5em}}input{{font-size:1em;padding:.3em}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=PAGE.format(title=escape(title), body=body),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def add_ack_routes(app: web.Application, source: AckSource, refuse: Refuse) -> None:
    async def list_alerts(_: web.Request) -> web.Response:
        return web.json_response({"alerts": source.status()["alerts"]})

    async def one_alert(request: web.Request) -> web.Response:
        found = source.alert(request.match_info["id"])
        if found is None:
            return web.json_response({"error": "no such active alert"}, status=404)
        return web.json_response(found)

    async def ack(request: web.Request) -> web.Response:
        denied = refuse(request)
        if denied is not None:
            return denied
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        by = body.get("by") if isinstance(body, dict) else None
        if not isinstance(by, str) or not by.strip():
            return web.json_response({"error": "by (who acknowledges) is required"}, status=400)
        done = await source.acknowledge(request.match_info["id"], by.strip()[:100])
        if done is None:
            return web.json_response({"error": "no such escalating alert"}, status=404)
        return web.json_response(done)

    async def unack(request: web.Request) -> web.Response:
        denied = refuse(request)
        if denied is not None:
            return denied
        done = await source.unacknowledge(request.match_info["id"])
        if done is None:
            return web.json_response({"error": "no such acknowledged alert"}, status=404)
        return web.json_response(done)

    def link(request: web.Request) -> tuple[str, str, str | None]:
        fp, token = request.match_info["fingerprint"], request.match_info["token"]
        verdict = source.check_ack_link(fp, token)
        return fp, token, None if verdict is True else str(verdict)

    async def confirm(request: web.Request) -> web.Response:
        fp, token, problem = link(request)
        if problem is not None:
            return _page(
                "Link not valid", f"<p>This acknowledgement link is {escape(problem)}.</p>", 403
            )
        alert = source.alert(fp)
        if alert is None:
            return _page("Nothing to acknowledge", "<p>This alert is no longer active.</p>", 404)
        what = escape(f"[{alert['severity'].upper()}] {alert['rule']} {alert['check']}")
        form = (
            f"<p>{what}</p>"
            f'<form method="post" action="/ack/{escape(fp)}/{escape(token)}">'
            '<p><label>Your name <input name="by" maxlength="100" required></label></p>'
            "<p><button>Acknowledge</button></p></form>"
        )
        return _page("Acknowledge alert", form)

    async def confirmed(request: web.Request) -> web.Response:
        fp, _, problem = link(request)
        if problem is not None:
            return _page(
                "Link not valid", f"<p>This acknowledgement link is {escape(problem)}.</p>", 403
            )
        form = await request.post()
        by = str(form.get("by") or "").strip()[:100] or "ack link"
        done = await source.acknowledge(fp, by)
        if done is None:
            return _page("Nothing to acknowledge", "<p>This alert is no longer active.</p>", 404)
        return _page("Acknowledged", f"<p>Acknowledged by {escape(by)}. Escalation stopped.</p>")

    app.router.add_get("/api/v1/alerts", list_alerts)
    app.router.add_get("/api/v1/alerts/{id}", one_alert)
    app.router.add_post("/api/v1/alerts/{id}/ack", ack)
    app.router.add_post("/api/v1/alerts/{id}/unack", unack)
    app.router.add_get("/ack/{fingerprint}/{token}", confirm)
    app.router.add_post("/ack/{fingerprint}/{token}", confirmed)
