"""``GET /api/v1/slos``: every SLO with its attainment, budget left, burn rates and alert
pairs (what ``sentinel slo`` prints); ``GET /api/v1/slos/{name}``: one of them. Read
access as /api/v1/status (the token when one is set). The figures are the SLO keeper's,
refreshed each minute; the answers are :class:`sentinel.web.models.SloList` and
:class:`sentinel.web.models.Slo`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sentinel.config import Config
from sentinel.config.slo import Slo, alert_rule
from sentinel.config.units import format_duration
from sentinel.routing.quiet import Hold, slo_holds
from sentinel.rules.slo import SloStatus, window_name
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.web import models as m
from sentinel.web.auth import Gate


def slo_view(
    slo: Slo, status: SloStatus, holds: Mapping[str, Hold] | None = None
) -> dict[str, Any]:
    """``holds``: the inhibition hold of each SLO alert, by rule name (``slo_holds``)."""
    pairs = []
    for name, alert in slo.burn_alerts().items():
        long, short = window_name(alert.long), window_name(alert.short)
        hold = (holds or {}).get(alert_rule(slo.name, name))
        pairs.append(
            {
                "name": name,
                "rule": f"SLO:{slo.name}:{name}",
                "factor": alert.factor,
                "long": long,
                "short": short,
                "severity": alert.severity,
                "long_burn_rate": status.burn.get(long),
                "short_burn_rate": status.burn.get(short),
                "firing": name in status.firing,
                "warming": name in status.warming,
                "hysteresis": alert.hysteresis,
                "inhibition_hold": None if hold is None else format_duration(hold.seconds),
            }
        )
    return {
        "name": slo.name,
        "description": slo.description,
        "indicator": slo.indicator,
        "threshold_seconds": slo.threshold,
        "objective": round(status.objective, 10),  # 99.9 / 100 is 0.9990000000000001
        "window": window_name(slo.window),
        "good": status.good,
        "total": status.total,
        "attainment": status.attainment,
        "error_budget_remaining": status.budget_remaining,
        "exhaustion_seconds": status.exhaustion,
        "burn_rates": status.burn,
        "firing": list(status.firing),
        "alerts": pairs,
    }


def slos_view(
    keeper: SloKeeper | None, holds: Mapping[str, Hold] | None = None
) -> list[dict[str, Any]]:
    if keeper is None:
        return []
    config = {s.name: s for s in keeper.engine.slos}
    return [slo_view(config[s.name], s, holds) for s in keeper.table.statuses() if s.name in config]


def one_slo_view(
    keeper: SloKeeper | None, name: str, holds: Mapping[str, Hold] | None = None
) -> dict[str, Any] | None:
    """The view of the SLO ``name`` (None: not configured, or not refreshed since)."""
    if keeper is None:
        return None
    slo = next((s for s in keeper.engine.slos if s.name == name), None)
    found = None if slo is None else keeper.table.status(name)
    return None if slo is None or found is None else slo_view(slo, found, holds)


def add_slo_routes(app: web.Application, source: object, gate: Gate) -> None:
    """``source`` is the daemon: its ``slo_keeper`` exists once it has started."""

    kept: list[tuple[Config, dict[str, Hold]]] = []  # the holds of the config in force

    def keeper() -> SloKeeper | None:
        found = getattr(source, "slo_keeper", None)
        return found if isinstance(found, SloKeeper) else None

    def holds() -> dict[str, Hold] | None:
        config = getattr(source, "config", None)
        if isinstance(config, Config) and (not kept or kept[0][0] is not config):
            kept[:] = [(config, slo_holds(config))]  # once per config: SLOs x checks
        return kept[0][1] if kept else None

    async def list_slos(request: web.Request) -> web.Response:
        shown = gate.reader(request)
        if isinstance(shown, web.Response):
            return shown
        return web.json_response(m.dumped(m.SloList, {"slos": slos_view(keeper(), holds())}))

    async def one_slo(request: web.Request) -> web.Response:
        shown = gate.reader(request)
        if isinstance(shown, web.Response):
            return shown
        name = request.match_info["name"]
        view = one_slo_view(keeper(), name, holds())
        if view is not None:
            return web.json_response(m.dumped(m.Slo, view))
        return web.json_response({"error": f"no SLO named {name!r}"}, status=404)

    app.router.add_get("/api/v1/slos", list_slos)
    app.router.add_get("/api/v1/slos/{name}", one_slo)
