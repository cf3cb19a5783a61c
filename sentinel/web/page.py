"""The status page at ``/``: server-rendered HTML, no script, nothing from outside.

GET  /                        the page; ``?service=<label>`` shows one group (empty value:
                              the checks without one), ``?page=N`` pages through the checks
POST /ui/alerts/{id}/ack      the Acknowledge button (only with status_page.allow_ack)

What the page shows comes from a :class:`PageSource` (the daemon); the rows and
sections the template draws are built by :mod:`sentinel.web.page_views`. The request
path does no heavy work: the 90-day uptime of every check sits in an
:class:`~sentinel.web.page_uptime.UptimeCache` refreshed in the background, checks are paged
(``PAGE_SIZE`` a page), and only the checks of the page shown get their SVG.

Forms are protected by a double-submit token (:mod:`sentinel.web.csrf`): the GET sets a random
``sentinel_csrf`` cookie (HttpOnly, SameSite=Strict) and puts
``HMAC-SHA256(ack_key, cookie)`` in a hidden field; the POST must bring both,
matching, and its ``Origin``/``Referer`` (when sent) must name this host. The
answer to a good POST is a 303 back to the page (post-redirect-get), so the
page's self-refresh never submits a form again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any, Protocol
from urllib.parse import quote

import structlog
from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from sentinel.clock import Clock
from sentinel.config.models import Config
from sentinel.escalation.incidents import Incident
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.store.protocols import IncidentStore
from sentinel.web import svg
from sentinel.web.csrf import COOKIE, COOKIE_SHAPE, csrf_refusal, csrf_token
from sentinel.web.page_uptime import UptimeCache
from sentinel.web.page_views import (
    Group,
    Row,
    alert_view,
    counts_of,
    group_checks,
    incident_view,
    link,
    member_view,
    place_views,
    prober,
    when,
)
from sentinel.web.slo_page import SloSection
from sentinel.web.views import contacts_shown

log = structlog.get_logger("sentinel.web.page")

PAGE_SIZE = 100  # checks drawn per page; the rest are a link away
SERVICE_INDEX_MAX = 500  # services listed at the top; beyond that, page through the checks
ALERTS_MAX = 100
INCIDENTS_SHOWN = 10
FIRST_LOAD_WAIT = 0.25  # a first view waits this long for the uptime history, then draws without
# On top of the headers every answer has (sentinel.web.headers: CSP, nosniff, no framing):
PAGE_HEADERS = {
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # the page carries a form token
}
_ALERT_ID = re.compile(r"[0-9a-f]{6,64}")  # the flash after an ack names an alert, nothing else
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}

_env = Environment(
    loader=PackageLoader("sentinel.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class PageSource(Protocol):
    """What the page reads from the daemon, and the one thing it may do (acknowledge)."""

    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> IncidentStore: ...

    @property
    def ack_key(self) -> bytes: ...

    @property
    def slo_keeper(self) -> SloKeeper | None: ...

    def status(self) -> dict[str, Any]: ...

    def runs(self, check: str) -> list[tuple[float, bool]]:
        """The check's recent runs (duration, ok), for its sparkline."""
        ...

    def members(self) -> list[dict[str, Any]]:
        """Several replicas: the members (empty for one process)."""
        ...

    def list_silences(self) -> list[dict[str, Any]]: ...

    def maintenance(self) -> list[dict[str, Any]]: ...

    async def uptime_bars(
        self, days: int = 90, checks: list[str] | None = None
    ) -> dict[str, list[float | None]]: ...

    async def acknowledge(self, ref: str, by: str, via: str) -> dict[str, Any] | None: ...


# -- routes --------------------------------------------------------------------


def add_page_routes(app: web.Application, source: PageSource) -> None:
    cache = UptimeCache()
    page_template = _env.get_template("status.html")
    message_template = _env.get_template("message.html")

    async def keep_uptime(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.ensure_future(cache.run(source))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def message(title: str, text: str, status: int) -> web.Response:
        cfg = source.config.server.status_page
        body = message_template.render(site=cfg.title, title=title, text=text)
        return web.Response(
            text=body, status=status, content_type="text/html", headers=PAGE_HEADERS
        )

    slo_section = SloSection()

    async def index(request: web.Request) -> web.Response:
        cfg = source.config.server.status_page
        now = source.clock.now()
        if not cache.loaded.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(cache.loaded.wait()), FIRST_LOAD_WAIT)
        status = contacts_shown(source.status(), False)  # the page is for everyone
        checks: list[dict[str, Any]] = status["checks"]
        service = request.query.get("service")
        try:
            page = max(int(request.query.get("page", "1")), 1)
        except ValueError:
            page = 1

        grouped = group_checks(checks)
        shown = [(k, m) for k, m in grouped if service is None or k == service]
        flat = [(k, c) for k, members in shown for c in members]
        pages = max(math.ceil(len(flat) / PAGE_SIZE), 1)
        page = min(page, pages)
        on_page = flat[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        today = now.date()
        small = len(checks) <= 50

        rows: dict[str, list[Row]] = {}
        for key, c in on_page:
            ratios = cache.get(c["name"])
            overall = svg.uptime_ratio(ratios)
            duration = c.get("duration_seconds")
            rows.setdefault(key, []).append(
                Row(
                    name=c["name"],
                    type=c["type"],
                    state=c["state"],
                    reason=c.get("error") or ("" if c["state"] != "down" else "failed"),
                    last_run=when(c.get("last_run"), now),
                    latency="-" if duration is None else f"{duration * 1000:.0f} ms",
                    spark=Markup(svg.sparkline(source.runs(c["name"]))),  # noqa: S704 svg.py escapes every text it draws
                    bars=Markup(svg.uptime_bars(ratios, today)),  # noqa: S704 svg.py: digits and colours only
                    uptime="no data" if overall is None else svg.percent(overall),
                    places=place_views(c.get("locations", ()), now),
                    by=prober(c),
                )
            )
        groups = []
        for key, members in shown:
            if key not in rows:
                continue
            counts = counts_of(members)
            groups.append(
                Group(
                    key=key,
                    title=key or "Other checks",
                    link=link(key),
                    counts=counts,
                    rows=rows[key],
                    open=small or counts["up"] < len(members) or service is not None,
                )
            )
        services = [
            {"title": k or "Other checks", "link": link(k), "counts": counts_of(m)}
            for k, m in grouped[:SERVICE_INDEX_MAX]
        ]

        alerts = sorted(
            status["alerts"],
            key=lambda a: (
                a["state"] != "firing",
                SEVERITY_ORDER.get(a["severity"], 9),
                a.get("fired_at") or a.get("active_since") or "",
            ),
        )
        firing = sum(1 for a in alerts if a["state"] == "firing")
        try:
            incidents: list[Incident] | None = await source.store.incidents(limit=INCIDENTS_SHOWN)
            timelines = {  # open incidents' status and latest update (issue 20)
                i.id: found[1]
                for i in incidents or []
                if i.resolved_at is None and (found := await source.store.incident(i.id))
            }
        except Exception as exc:  # the page still shows what is in memory
            log.warning("status_page_incidents_failed", error=type(exc).__name__)
            incidents, timelines = None, {}

        cookie = request.cookies.get(COOKIE)
        fresh_cookie = None
        token = ""
        if cfg.allow_ack:
            if cookie is None or not COOKIE_SHAPE.fullmatch(cookie):
                cookie = fresh_cookie = secrets.token_urlsafe(32)
            token = csrf_token(source.ack_key, cookie)

        keeper = source.slo_keeper
        slos, slos_hidden = slo_section.rows(keeper, now) if keeper is not None else ([], 0)

        acked = request.query.get("acked")
        refresh_url = link(service, page)
        summary = status["summary"]
        body = page_template.render(
            title=cfg.title,
            refresh=int(cfg.refresh),
            refresh_url=refresh_url,
            generated=f"{now:%Y-%m-%d %H:%M:%S} UTC",
            summary=summary,
            firing=firing,
            acked=acked if acked and _ALERT_ID.fullmatch(acked) else None,
            alerts=[alert_view(a, now) for a in alerts[:ALERTS_MAX]],
            alerts_hidden=max(len(alerts) - ALERTS_MAX, 0),
            allow_ack=cfg.allow_ack,
            csrf=token,
            services=services,
            services_hidden=max(len(grouped) - SERVICE_INDEX_MAX, 0),
            service=service,
            groups=groups,
            page=page,
            pages=pages,
            prev_link=link(service, page - 1) if page > 1 else None,
            next_link=link(service, page + 1) if page < pages else None,
            all_link="/" if service is not None else None,
            uptime_loading=not cache.loaded.is_set(),
            silences=[
                dict(s, starts=when(s["starts_at"], now), ends=when(s["ends_at"], now))
                for s in source.list_silences()
            ],
            maintenance=[
                dict(w, starts=when(w["starts_at"], now), ends=when(w["ends_at"], now))
                for w in source.maintenance()
            ],
            sources=[  # inbound alert sources (issue 17): when each last spoke
                dict(s, spoke=when(s["last_spoke"], now) if s["last_spoke"] else "not since start")
                for s in status.get("sources", [])
            ],
            update_form=source.config.server.api_token is not None,  # issue 20
            incidents=None
            if incidents is None
            else [incident_view(i, now, timelines.get(i.id)) for i in incidents],
            broken=[c for c in status.get("channels", []) if c.get("broken")],
            slos=slos,
            slos_hidden=slos_hidden,
            members=[member_view(x) for x in source.members()],  # several replicas only
        )
        resp = web.Response(text=body, content_type="text/html", headers=PAGE_HEADERS)
        if fresh_cookie is not None:
            resp.set_cookie(
                COOKIE,
                fresh_cookie,
                path="/",
                httponly=True,
                samesite="Strict",
                secure=request.secure,
            )
        resp.enable_compression()
        return resp

    async def acknowledge(request: web.Request) -> web.Response:
        if not source.config.server.status_page.allow_ack:
            return message("Read-only", "This status page does not acknowledge alerts.", 403)
        form = await request.post()
        token, by = form.get("csrf"), form.get("by")
        refusal = csrf_refusal(
            key=source.ack_key,
            cookie=request.cookies.get(COOKIE),
            token=token if isinstance(token, str) else None,
            host=request.host,
            origin=request.headers.get("Origin"),
            referer=request.headers.get("Referer"),
        )
        if refusal is not None:
            log.warning("status_page_ack_refused", reason=refusal)
            return message("Refused", f"Request refused: {refusal}.", 403)
        name = by.strip()[:100] if isinstance(by, str) else ""
        if not name:
            return message("Who is acknowledging?", "Type your name and try again.", 400)
        ref = request.match_info["id"]
        done = await source.acknowledge(ref, name, "page")
        if done is None:
            return message("Nothing to acknowledge", "This alert is no longer escalating.", 404)
        raise web.HTTPSeeOther(
            "/?acked=" + quote(str(done.get("fingerprint", ref)), safe=""),
            headers=PAGE_HEADERS,
        )

    app.cleanup_ctx.append(keep_uptime)
    app.router.add_get("/", index)
    app.router.add_post("/ui/alerts/{id}/ack", acknowledge)
