"""Acknowledging through the signed links sent in notifications.

GET  /ack/{fingerprint}/{token}  a confirm page (a phone's link preview must not ack)
POST /ack/{fingerprint}/{token}  acknowledges; the token in the path is the credential,
                                 so a cross-site form cannot forge it

The API's acknowledge (POST /api/v1/alerts/{id}/ack, bearer token) is in
:mod:`sentinel.web.api`.
"""

from __future__ import annotations

from html import escape
from typing import Any, Protocol

from aiohttp import web


class AckSource(Protocol):
    async def acknowledge(self, ref: str, by: str, via: str) -> dict[str, Any] | None: ...

    async def unacknowledge(self, ref: str) -> dict[str, Any] | None: ...

    async def check_ack_link(self, fingerprint: str, token: str) -> bool | str: ...

    def alert(self, ref: str) -> dict[str, Any] | None: ...

    def status(self) -> dict[str, Any]: ...


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


def _refused(problem: str) -> web.Response:
    """The page for a link that cannot acknowledge (``check_ack_link``'s reason)."""
    if problem == "over":
        return _page(
            "That outage is over",
            "<p>This link was for an earlier outage of this alert, which is over. "
            "It does not acknowledge anything that fired since: use the link in the "
            "latest notification, or the API.</p>",
            410,
        )
    if problem == "outdated":
        return _page(
            "Link not valid",
            "<p>This acknowledgement link was made by an older version of sentinel and "
            "cannot say which outage it was for. Use the link in the latest notification, "
            "or the API.</p>",
            403,
        )
    return _page("Link not valid", f"<p>This acknowledgement link is {escape(problem)}.</p>", 403)


def add_ack_routes(app: web.Application, source: AckSource) -> None:
    async def link(request: web.Request) -> tuple[str, str, str | None]:
        fp, token = request.match_info["fingerprint"], request.match_info["token"]
        verdict = await source.check_ack_link(fp, token)
        return fp, token, None if verdict is True else str(verdict)

    async def confirm(request: web.Request) -> web.Response:
        fp, token, problem = await link(request)
        if problem is not None:
            return _refused(problem)
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
        fp, _, problem = await link(request)
        if problem is not None:
            return _refused(problem)
        form = await request.post()
        by = str(form.get("by") or "").strip()[:100] or "ack link"
        done = await source.acknowledge(fp, by, "link")
        if done is None:
            return _page("Nothing to acknowledge", "<p>This alert is no longer active.</p>", 404)
        return _page("Acknowledged", f"<p>Acknowledged by {escape(by)}. Escalation stopped.</p>")

    app.router.add_get("/ack/{fingerprint}/{token}", confirm)
    app.router.add_post("/ack/{fingerprint}/{token}", confirmed)
