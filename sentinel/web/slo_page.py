"""The status page's SLO section: rows for the template from
:func:`sentinel.web.slo_views.slo_panel`'s figures, with the budget bar and the burn-down
drawn (:mod:`sentinel.web.svg`), at most once a minute (docs/slos.md#on-the-status-page)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

from sentinel.rules.slo_keeper import SloKeeper
from sentinel.web import svg
from sentinel.web.slo_views import share, slo_panel
from sentinel.web.views import human


@dataclass(frozen=True, slots=True)
class SloRow:
    name: str
    description: str
    indicator: str
    objective: str
    window: str
    attainment: str
    runs: str
    budget: str
    bar: Markup
    burn_down: Markup
    burn: str
    exhaustion: str
    firing: list[str]


def slo_rows(panel: Sequence[dict[str, Any]]) -> list[SloRow]:
    """The template's rows from :func:`sentinel.web.slo_views.slo_panel`'s figures."""
    rows = []
    for s in panel:
        left = s["budget_remaining"]
        budget = "no runs yet" if left is None else share(left)
        if left is not None and left < 0:
            budget += " (overspent)"
        bar_label = f"error budget left: {budget}"
        threshold = s["threshold"]
        exhaustion = s["exhaustion"]
        rows.append(
            SloRow(
                name=s["name"],
                description=s["description"],
                indicator=s["indicator"]
                + ("" if threshold is None else f", faster than {threshold:g}s"),
                objective=f"{s['objective'] * 100:g}%",
                window=s["window"],
                attainment="-" if s["attainment"] is None else svg.percent(s["attainment"], 3),
                runs=f"{s['good']} good of {s['total']}",
                budget=budget,
                bar=Markup(svg.budget_bar(left, bar_label)),  # noqa: S704 svg.py escapes its text
                burn_down=Markup(svg.burn_down(s["burn_down"], s["burn_down_text"])),  # noqa: S704 svg.py escapes its text
                burn="-" if s["burn_1h"] is None else f"{s['burn_1h']:.2f}x",
                exhaustion="spent"
                if left is not None and left <= 0
                else "-"
                if exhaustion is None
                else human(exhaustion),
                firing=s["firing"],
            )
        )
    return rows


class SloSection:
    """The rows, drawn once a minute and when the keeper's statuses change: a hundred
    SLOs' burn-downs cost tens of milliseconds (docs/performance.md)."""

    def __init__(self) -> None:
        self._key: tuple[int, int, int] | None = None
        self._rows: tuple[list[SloRow], int] = ([], 0)

    def rows(self, keeper: SloKeeper, now: datetime) -> tuple[list[SloRow], int]:
        """The rows and how many SLOs were left out."""
        table = keeper.table
        key = (int(now.timestamp() // 60), id(keeper), id(table))
        if key != self._key:
            panel, hidden = slo_panel(keeper.engine, table.statuses(), now)
            self._key, self._rows = key, (slo_rows(panel), hidden)
        return self._rows
