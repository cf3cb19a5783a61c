"""The SLO keeper's statuses between refreshes, compact (issue 19: 10,000 SLOs).

A :class:`~sentinel.rules.slo.SloStatus` per SLO costs about 1.8 kB kept (its dict of
burn rates, the boxed floats); /metrics reads them every scrape and the API and the
status page now and then. :class:`SloTable` keeps, per SLO in config order, its
configured :class:`~sentinel.config.slo.Slo` (shared with the engine), its good and total
runs and one burn rate per window in one ``array('d')`` (a burn rate of None, a window
with no runs, is NaN there: :func:`~sentinel.rules.slo.burn_rate` never gives NaN), and
the index of its :class:`Shape`: the window names and the firing and warming pairs, one
object shared by every SLO that has the same. The rest of a status (objective, window,
attainment, budget left, exhaustion, month start) follows from the config and the
refresh time, as :func:`~sentinel.rules.slo.status` works it out; :meth:`SloTable.statuses`
and :meth:`SloTable.status` build the objects when a reader asks for them.

Never changed once built: the keeper replaces it whole, so /metrics may read it from a
worker thread.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sentinel.config.slo import Slo
from sentinel.rules.slo import HOUR, SloStatus, budget_window, exhaustion, window_name

HOUR_NAME = window_name(HOUR)  # every status has the hour's burn rate (windows_of)


@dataclass(frozen=True, slots=True)
class Shape:
    """What SLOs share: their burn-rate windows (names, in the status's order), where the
    hour's is among them, and the pairs firing and warming."""

    windows: tuple[str, ...]
    hour: int
    firing: tuple[str, ...]
    warming: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Row:
    """One SLO of a table, as :meth:`SloTable.rows` reads it."""

    slo: Slo
    shape: Shape
    good: int
    total: int
    burn: Sequence[float]  # per window of ``shape``; NaN: no runs in that window


def budget(good: int, total: int, ratio: float) -> tuple[float | None, float | None]:
    """(attainment, budget remaining) of ``good`` of ``total`` runs against ``ratio``, as
    :func:`~sentinel.rules.slo.status` works them out (None: no runs)."""
    attainment = good / total if total else None
    remaining = None if attainment is None else 1.0 - (1.0 - attainment) / (1.0 - ratio)
    return attainment, remaining


@dataclass(frozen=True, slots=True)
class SloTable:
    at: float  # the refresh's time: a month's bounds are read at it
    slos: tuple[Slo, ...]
    figures: array[float]  # per SLO: good, total, a burn rate per window of its shape
    shapes: tuple[Shape, ...]
    shape_of: array[int]  # per SLO: its shape's index in ``shapes``

    @classmethod
    def empty(cls) -> SloTable:
        return cls(0.0, (), array("d"), (), array("I"))

    @classmethod
    def of(cls, slos: Sequence[Slo], statuses: Iterable[SloStatus], at: float) -> SloTable:
        """The table of ``statuses`` (the engine's at ``at``, one per SLO of ``slos``, in
        the same order)."""
        figures = array("d")
        shape_of = array("I")
        shapes: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], int] = {}
        for slo, st in zip(slos, statuses, strict=True):
            if slo.name != st.name:
                raise ValueError(f"status of {st.name!r} given for SLO {slo.name!r}")
            key = (tuple(st.burn), st.firing, st.warming)
            index = shapes.get(key)
            if index is None:
                index = shapes[key] = len(shapes)
            shape_of.append(index)
            figures.append(st.good)
            figures.append(st.total)
            figures.extend(math.nan if r is None else r for r in st.burn.values())
        kinds = tuple(Shape(w, w.index(HOUR_NAME), f, warm) for w, f, warm in shapes)
        return cls(at, tuple(slos), figures, kinds, shape_of)

    def __len__(self) -> int:
        return len(self.slos)

    def rows(self) -> Iterator[Row]:
        """Each SLO's figures, in order."""
        figures, shapes, at = self.figures, self.shapes, 0
        for slo, index in zip(self.slos, self.shape_of, strict=True):
            shape = shapes[index]
            end = at + 2 + len(shape.windows)
            yield Row(slo, shape, int(figures[at]), int(figures[at + 1]), figures[at + 2 : end])
            at = end

    def statuses(self) -> list[SloStatus]:
        """Every SLO's status, built now."""
        return [self._status(row) for row in self.rows()]

    def status(self, name: str) -> SloStatus | None:
        """The SLO ``name``'s status (None: no such SLO at the refresh)."""
        for row in self.rows():
            if row.slo.name == name:
                return self._status(row)
        return None

    def _status(self, row: Row) -> SloStatus:
        slo, shape = row.slo, row.shape
        start, length = budget_window(slo, self.at)
        attainment, remaining = budget(row.good, row.total, slo.ratio)
        rates = [None if math.isnan(r) else r for r in row.burn]
        return SloStatus(
            name=slo.name,
            objective=slo.ratio,
            window=length,
            good=row.good,
            total=row.total,
            attainment=attainment,
            budget_remaining=remaining,
            burn=dict(zip(shape.windows, rates, strict=True)),
            exhaustion=exhaustion(remaining, rates[shape.hour], length),
            firing=shape.firing,
            warming=shape.warming,
            window_start=start if slo.window == "month" else None,
        )
