"""``GET /api/v1/cluster``: the members, their locations, the leader, leases and claims,
as the answering member sees them (what ``sentinel cluster status`` prints). Read
access as /api/v1/status (the token when one is set)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sentinel.web.auth import Gate
from sentinel.web.models import Cluster, dumped


def add_cluster_routes(
    app: web.Application, cluster: Callable[[], Awaitable[dict[str, Any]]], gate: Gate
) -> None:
    async def get_cluster(request: web.Request) -> web.Response:
        shown = gate.reader(request)
        if isinstance(shown, web.Response):
            return shown
        return web.json_response(dumped(Cluster, await cluster()))

    app.router.add_get("/api/v1/cluster", get_cluster)
