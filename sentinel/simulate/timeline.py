"""The timeline ``sentinel simulate`` prints: one line per event, offset from the start.

The replay says what happened (``say``: a check failed, an alert fired, a
silence began) and the dispatcher reports what was sent (``sent``, its
``on_sent`` hook); :meth:`Timeline.lines` sorts both by time and writes each
notice with who it reached, merging a storm digest's rows into one line.

    +00:01:00  api  check fails: connection refused
    +00:03:00  ServiceDown api  FIRING (critical)
    +00:03:00  -> pagerduty (alice)  fired ServiceDown api
"""

from __future__ import annotations

from sentinel.config import Config
from sentinel.notify.base import Notice
from sentinel.notify.outbox import Delivery
from sentinel.rules.engine import Instance
from sentinel.sources.external import External

EPS = 1e-6


class Timeline:
    """Entries in the order they happened; ``start_ts`` is the scenario's start (unix)."""

    def __init__(self, config: Config, start_ts: float) -> None:
        self._config = config
        self._start_ts = start_ts
        self._entries: list[tuple[float, tuple[int, int], str]] = []
        self._digests: dict[tuple[float, str, str | None], list[Delivery]] = {}
        self._seq = 0

    def say(self, at: float, text: str) -> None:
        """An event ``at`` seconds after the start."""
        self._seq += 1
        self._entries.append((at, (0, self._seq), text))

    def sent(self, d: Delivery) -> None:
        """A notice the dispatcher sent (or merged into a digest)."""
        at = (d.sent_at or 0.0) - self._start_ts
        if d.state == "merged":
            self._digests.setdefault((at, d.channel, d.address), []).append(d)
            return
        self._entries.append((at, (1, d.id or 0), f"-> {self._to(d)}  {about(d.notice)}"))

    def _to(self, d: Delivery) -> str:
        where = d.channel + (f" {d.address}" if d.address else "")
        person = next(
            (
                name
                for name, c in self._config.contacts.items()
                if d.address is not None and d.address in (c.phone, c.email, c.slack)
            ),
            None,
        )
        if d.target.startswith("oncall:"):
            return f"{where} ({person}, {d.target})" if person else f"{where} ({d.target})"
        if d.target in self._config.contacts:
            return f"{where} ({d.target})"
        return where

    def lines(self) -> list[str]:
        entries = list(self._entries)
        for (at, _, _), group in self._digests.items():
            first = min(group, key=lambda d: d.id or 0)
            told = "; ".join(about(d.notice) for d in sorted(group, key=lambda d: d.id or 0))
            entries.append(
                (at, (1, first.id or 0), f"-> {self._to(first)}  digest of {len(group)}: {told}")
            )
        entries.sort(key=lambda e: (round(e[0], 3), e[1]))
        return [f"{stamp(at)}  {text}" for at, _, text in entries]


def alert_name(inst: Instance) -> str:
    own = inst.own if isinstance(inst, External) else inst.labels
    labels = ",".join(f'{k}="{v}"' for k, v in own)
    return f"{inst.rule} {inst.check}" + (f"{{{labels}}}" if labels else "")


def about(notice: Notice) -> str:
    a = notice.alert
    return notice.kind if a is None else f"{notice.kind} {a.rule} {a.check}"


def stamp(seconds: float) -> str:
    s = int(seconds + EPS)
    return f"+{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
