"""Storms, decided purely: when one address's notices are folded into digests.

A *storm* is more than ``threshold`` distinct alerts (fingerprints) paged to
one address of one channel within ``window``. Only notices that page about an
alert count (``firing``, ``escalation``, ``repeat``, ``flapping``); an
acknowledgement or a resolution never does, and one alert counts once however
often it fires, so a single alert going down and up is never a storm (the
flap detector's ``flapping`` notice is for that).

Outside a storm nothing waits. In a storm every notice to that address
(new alerts' first pages, resolutions, acknowledgements) is held for a digest
due ``spacing`` after it was written; a digest takes all that address holds,
so it goes at most ``spacing`` after its oldest notice, and the next one, made
only of notices written after it, no sooner than ``spacing`` later.

    gate = StormGate(window=60, threshold=5, spacing=5)
    gate.admit("slack", "#ops", "fp1", "firing", now)   # None: send now
                                                        # a time: hold until then
    fold([notice, ...], now)                            # the digest Notice
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sentinel.notify.base import AlertFacts, Folded, Notice

COUNTED = frozenset({"firing", "escalation", "repeat", "flapping"})  # a page about an alert
Key = tuple[str, str]  # (channel, address or "" for the channel's own)


@dataclass
class StormGate:
    """Per address, the distinct alerts paged in the last ``window`` and when."""

    window: float
    threshold: int
    spacing: float
    # address -> fingerprint -> when it last counted, oldest first
    _paged: dict[Key, dict[str, float]] = field(default_factory=dict)

    def admit(
        self, channel: str, address: str | None, fingerprint: str, kind: str, now: float
    ) -> float | None:
        """Count a notice written ``now``. None: send it now. A time: hold it for the
        digest due then (``now + spacing``)."""
        key = (channel, address or "")
        paged = self._recent(key, now)
        if kind in COUNTED and fingerprint:
            paged.pop(fingerprint, None)  # re-inserted last: the dict stays oldest first
            paged[fingerprint] = now
            self._paged[key] = paged
        if len(paged) > self.threshold:
            return now + self.spacing
        return None

    def _recent(self, key: Key, now: float) -> dict[str, float]:
        paged = self._paged.get(key)
        if paged is None:
            return {}
        for fingerprint, at in list(paged.items()):
            if at > now - self.window:
                break
            del paged[fingerprint]
        if not paged:
            del self._paged[key]
        return paged


def fold(notices: Sequence[Notice], now: float) -> Notice:
    """One digest for the held notices of one address, oldest first: each notice kept
    as an entry (what happened to which alert), and ``alerts`` the distinct alerts with
    their latest facts."""
    entries = tuple(
        Folded(n.kind, n.at, n.alert, n.step, n.acked_by, n.duration)
        for n in notices
        if n.alert is not None
    )
    latest: dict[str, AlertFacts] = {}
    for e in entries:
        latest[e.alert.fingerprint] = e.alert  # in order of first appearance, latest facts
    return Notice(kind="digest", at=now, alerts=tuple(latest.values()), entries=entries)
