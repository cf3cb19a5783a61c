"""The SLO alerts' inhibition holds, as the alert shell keeps them.

An SLO's alert may stay inhibited for a while after the alert inhibiting it has
resolved, or while such an alert is pending (``routing/quiet.py``: ``slo_holds``,
``why_quiet``). :class:`InhibitionHolds` remembers the resolutions of alerts that
could inhibit others (told at once by the shell, before the transition is saved: the
escalation tick may come first) and answers :meth:`InhibitionHolds.held` for the
quiet reasons. The shell holds one and hands it its labels and its store.

The resolutions are kept in the store (``inhibition_holds``), so a restart in the
middle of a hold keeps it: :meth:`InhibitionHolds.save` writes what :meth:`note` changed
(the shell calls it right after saving the transition), :meth:`InhibitionHolds.load`
reads back at start those less than the longest hold old. A cluster member loads every
member's rows at start; after that it holds on the resolutions it saw itself, as its
inhibition follows the alerts its own rules evaluate (docs/slos.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from sentinel.clock import Clock
from sentinel.config import Config
from sentinel.routing.quiet import Held, Hold, matches_alert, slo_holds
from sentinel.rules.engine import Instance, RuleEngine, Transition
from sentinel.sources.external import External
from sentinel.store.protocols import HoldRow, HoldStore

log = structlog.get_logger("sentinel.daemon")

CACHE_MAX = 10_000  # resolutions kept, at most (then the older than the longest hold go)


class InhibitionHolds:
    """The alerts that may hold an SLO alert's inhibition. ``labels``: an alert's
    labels as routing sees them (the shell's); ``store``: where the resolutions are kept."""

    def __init__(
        self,
        rules: RuleEngine,
        clock: Clock,
        labels: Callable[[Instance], dict[str, str]],
        store: HoldStore,
    ) -> None:
        self.rules = rules
        self.clock = clock
        self.labels = labels
        self.store = store
        # alerts resolved lately (fingerprint -> labels, when)
        self._ended: dict[str, tuple[dict[str, str], float]] = {}
        self._held: tuple[float, list[tuple[str, dict[str, str], float, bool]]] | None = None
        # what note() changed and save() has not written yet: a resolution, or None (gone)
        self._changed: dict[str, tuple[dict[str, str], float] | None] = {}
        self._saving = asyncio.Lock()  # one write at a time: the last change is the last written

    def configure(self, config: Config) -> None:
        self.config = config
        self.holds = slo_holds(config)
        self._hold_max = max((h.seconds for h in self.holds.values()), default=0.0)
        self._held = None

    def note(self, t: Transition) -> None:
        """Remember a resolution for the SLO alerts' inhibition holds (at once: the
        escalation tick may come before the transition is saved)."""
        if not self.holds:
            return
        self._held = None
        fp = t.instance.fingerprint
        if t.event == "resolved":
            labels = self.labels(t.instance)
            if self._source(labels):
                if len(self._ended) >= CACHE_MAX:
                    self._forget(t.at)
                self._ended[fp] = self._changed[fp] = (labels, t.at)
        elif t.event in ("pending", "firing") and self._ended.pop(fp, None) is not None:
            self._changed[fp] = None

    async def save(self) -> None:
        """Write what :meth:`note` changed since the last save (a resolution kept, or
        one gone as its alert is pending or firing again), and drop the rows older than
        the longest hold, in one transaction. A failed write is logged and tried again
        with the next save (a hold lost to it only costs a page after a restart)."""
        if not self._changed:
            return  # most transitions: nothing to write, and no wait for a write under way
        async with self._saving:
            if not self._changed:
                return
            changed, self._changed = self._changed, {}
            saved: list[HoldRow] = [(fp, *c) for fp, c in changed.items() if c is not None]
            gone = [fp for fp, c in changed.items() if c is None]
            try:
                await self.store.save_holds(saved, gone, self._cutoff())
            except Exception as exc:
                log.error("inhibition_hold_save_failed", error=type(exc).__name__)
                for fp, c in changed.items():
                    self._changed.setdefault(fp, c)  # unless changed again since

    async def load(self) -> None:
        """At start, once the stored alerts are restored: the resolutions less than the
        longest hold old (but not of an alert pending or firing again), and the older
        rows dropped. Nothing without holds."""
        if not self.holds:
            return
        since = self._cutoff()
        active = {i.fingerprint for i in self.rules.active()}
        for fp, labels, at in await self.store.load_holds(since):
            if fp not in active:
                self._ended[fp] = (labels, at)
        self._held = None
        await self.store.save_holds([], [], since)

    def _cutoff(self) -> float:
        """Resolutions before this (unix time) hold nothing any more."""
        return self.clock.now().timestamp() - self._hold_max

    def _source(self, labels: dict[str, str]) -> bool:
        """Could an alert with these labels inhibit others (an inhibit rule's source)?"""
        return any(matches_alert(rule.source, labels) for rule in self.config.inhibit)

    def _forget(self, now: float) -> None:
        """Drop the resolutions older than the longest hold."""
        for fp in [fp for fp, (_, at) in self._ended.items() if now - at >= self._hold_max]:
            del self._ended[fp]

    def held(self) -> Held:
        """(fingerprint, labels, when, pending) of the alerts that may hold an SLO alert's
        inhibition: those resolved less than the longest hold ago (when: resolved at) and
        those pending now (when: pending since). Kept until the next transition or the
        clock moves."""
        if not self.holds:
            return []
        now = self.clock.now().timestamp()
        if self._held is not None and self._held[0] == now:
            return self._held[1]
        self._forget(now)
        out = [(fp, labels, at, False) for fp, (labels, at) in self._ended.items()]
        for i in self.rules.active():
            if i.state.state == "pending" and self._source(labels := self.labels(i)):
                out.append((i.fingerprint, labels, i.state.active_since or now, True))
        self._held = (now, out)
        return out

    def hold(self, inst: Instance) -> Hold | None:
        """The inhibition hold of an SLO's alert (None: not one, or not held)."""
        return None if isinstance(inst, External) else self.holds.get(inst.rule)
