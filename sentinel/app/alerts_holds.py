"""The SLO alerts' inhibition holds, as the alert shell keeps them.

An SLO's alert may stay inhibited for a while after the alert inhibiting it has
resolved, or while such an alert is pending (``routing/quiet.py``: ``slo_holds``,
``why_quiet``). :class:`InhibitionHolds` remembers the resolutions of alerts that
could inhibit others (told at once by the shell, before the transition is saved: the
escalation tick may come first) and answers :meth:`InhibitionHolds.held` for the
quiet reasons. The shell holds one and hands it its labels.
"""

from __future__ import annotations

from collections.abc import Callable

from sentinel.clock import Clock
from sentinel.config import Config
from sentinel.routing.quiet import Held, Hold, matches_alert, slo_holds
from sentinel.rules.engine import Instance, RuleEngine, Transition
from sentinel.sources.external import External

CACHE_MAX = 10_000  # resolutions kept, at most (then the older than the longest hold go)


class InhibitionHolds:
    """The alerts that may hold an SLO alert's inhibition. ``labels``: an alert's
    labels as routing sees them (the shell's)."""

    def __init__(
        self, rules: RuleEngine, clock: Clock, labels: Callable[[Instance], dict[str, str]]
    ) -> None:
        self.rules = rules
        self.clock = clock
        self.labels = labels
        # alerts resolved lately (fingerprint -> labels, when)
        self._ended: dict[str, tuple[dict[str, str], float]] = {}
        self._held: tuple[float, list[tuple[str, dict[str, str], float, bool]]] | None = None

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
                self._ended[fp] = (labels, t.at)
        elif t.event in ("pending", "firing"):
            self._ended.pop(fp, None)

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
