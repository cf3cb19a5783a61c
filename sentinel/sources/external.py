"""An external alert as the rule engine, routing and the store see it: one
:class:`External` instance per (source, the sender's key), and how a source's
mapping and routes classify it (:func:`classify`).

What the store keeps of an alert rides in its labels under ``__`` names (the key, the
start, the text); :meth:`SourceBook.restore <sentinel.sources.book.SourceBook.restore>`
reads them back, and the labels routing and notices
see leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinel.config.rule import Severity
from sentinel.config.sources import Source
from sentinel.rules.engine import Instance, fingerprint
from sentinel.sources.inbound import Labels

K_KEY, K_START = "__source_key", "__starts_at"
K_TEXT = ("__summary", "__description", "__runbook_url", "__link")


def external_fingerprint(source: str, key: str) -> str:
    return fingerprint(f"source:{source}", source, (("key", key),))


@dataclass
class External(Instance):
    """An alert a source sent: its own labels and text, and what routing chose."""

    source: str = ""
    key: str = ""
    own: Labels = ()
    severity: Severity = "high"
    escalation: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # the source's and route's labels
    summary: str = ""
    description: str = ""
    runbook: str | None = None
    link: str | None = None
    starts_at: float | None = None
    # Worked out once: the escalation tick asks every open alert for it (a hash each
    # time was most of the tick's cost with hundreds open).
    _fingerprint: str = field(default="", repr=False, compare=False)
    _routing: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._fingerprint = external_fingerprint(self.source, self.key)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def pack(self) -> None:
        """Put what the store must keep into ``labels`` (see the module docstring)."""
        text = (self.summary, self.description, self.runbook or "", self.link or "")
        self.labels = (
            *self.own,
            (K_KEY, self.key),
            *(((K_START, repr(self.starts_at)),) if self.starts_at is not None else ()),
            *((k, v) for k, v in zip(K_TEXT, text, strict=True) if v),
        )

    def routing_labels(self) -> dict[str, str]:
        """The labels silences, inhibition and notices see (kept: asked on every tick;
        :meth:`classify_by` starts them again)."""
        if self._routing is None:
            self._routing = self._routing_labels()
        return self._routing

    def classify_by(self, source: Source) -> None:
        """Severity, policy and added labels from the source's mapping and routes."""
        self.severity, self.escalation, self.extra = classify(source, dict(self.own))
        self._routing = None

    def _routing_labels(self) -> dict[str, str]:
        return {
            "alertname": self.rule,
            "check": self.check,
            "source": self.source,
            "severity": self.severity,
            **self.extra,
            **dict(self.own),
        }


def classify(source: Source, labels: dict[str, str]) -> tuple[Severity, str | None, dict[str, str]]:
    """Severity, escalation policy and added labels of an alert: the first route that
    matches decides what it sets; the rest comes from the label and the source."""
    value = labels.get(source.severity_label, "").lower()
    severity: Severity = source.severities.get(value, source.default_severity)
    escalation = source.escalation
    extra = dict(source.labels)
    for route in source.routes:
        if all(labels.get(k) == v for k, v in route.match.items()):
            severity = route.severity or severity
            escalation = route.escalation or escalation
            extra.update(route.labels)
            break
    return severity, escalation, extra
