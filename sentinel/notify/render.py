"""Notices rendered for people, with Jinja templates a user may override.

Templates are looked up in the user's ``template_dir`` first, then in the
package's ``templates/``, so one file (``alert.txt.j2``) can be replaced
without copying the rest. A notice's kind picks the template::

    firing                          -> alert
    escalation, repeat, acknowledged -> update
    resolved                        -> resolved
    flapping                        -> flapping
    digest                          -> digest
    test                            -> test
    report                          -> report
    update, reminder (incidents)    -> status_update

each as ``<name>.txt.j2`` (plain text, Slack, console, webhook) and
``<name>.html.j2`` (email, autoescaped); ``subject.txt.j2`` gives the email
subject and ``short.txt.j2`` the head of an SMS. A digest's templates get
``sections`` (``[(heading, [entry, ...]), ...]``, entries as
:class:`~sentinel.notify.base.Folded`, in the order Fired, Escalated, Still
firing, Flapping, Acknowledged, Resolved), ``total`` (heading -> entries),
``counts`` ("3 fired, 1 resolved"), and ``listed`` / ``unlisted``: the same
sections cut to :data:`LISTED` entries for the plain text (a Slack section
holds 3000 characters), and how many were left out. Undefined names are errors
(StrictUndefined): a template typo fails the send with reason ``template``
rather than sending a page with a hole in it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from sentinel.notify.base import DeliveryError, Folded, Notice

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"

TEMPLATE_FOR_KIND = {
    "firing": "alert",
    "escalation": "update",
    "repeat": "update",
    "acknowledged": "update",
    "resolved": "resolved",
    "flapping": "flapping",
    "digest": "digest",
    "test": "test",
    "report": "report",
    "update": "status_update",
    "reminder": "status_update",
}

STATUS = {
    "firing": "FIRING",
    "escalation": "ESCALATED",
    "repeat": "STILL FIRING",
    "acknowledged": "ACKNOWLEDGED",
    "resolved": "RESOLVED",
    "flapping": "FLAPPING",
    "digest": "DIGEST",
    "test": "TEST",
    "report": "REPORT",
    "update": "UPDATE",
    "reminder": "REMINDER",
}

# A digest's sections: notice kind -> (heading, word in the counts), in this order.
DIGEST_SECTIONS = {
    "firing": ("Fired", "fired"),
    "escalation": ("Escalated", "escalated"),
    "repeat": ("Still firing", "still firing"),
    "flapping": ("Flapping", "flapping"),
    "acknowledged": ("Acknowledged", "acknowledged"),
    "resolved": ("Resolved", "resolved"),
}
LISTED = 20  # entries a plain-text digest lists; the rest are counted

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def human_duration(seconds: float | None) -> str:
    """Two largest units, spaced: 3900 -> ``1h 5m``, 45 -> ``45s``, 90061 -> ``1d 1h``."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    rest = max(0, round(seconds))
    for i, (unit, size) in enumerate(_UNITS):
        if rest >= size:
            text = f"{rest // size}{unit}"
            if i + 1 < len(_UNITS):
                next_unit, next_size = _UNITS[i + 1]
                if (rest % size) // next_size:
                    text += f" {(rest % size) // next_size}{next_unit}"
            return text
    return "0s"


def utc_minute(ts: float | None) -> str:
    """A unix time as UTC ISO 8601 to the minute: ``2026-01-05T09:00Z``."""
    if ts is None or not math.isfinite(ts):
        return "unknown"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%MZ")


def number(value: float | None) -> str:
    """A check's value without float noise: 0.5, 12, 1.23e+06; ``n/a`` when absent."""
    if value is None:
        return "n/a"
    return f"{value:.6g}"


SHOWN_LABELS = frozenset({"alertname", "check", "severity"})  # each has a line of its own


def label_text(labels: dict[str, str]) -> str:
    """An alert's other labels as one line, sorted: ``service=api, team=sre``."""
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in SHOWN_LABELS)


def _autoescape(name: str | None) -> bool:
    return name is not None and (name.endswith(".html") or name.endswith(".html.j2"))


class Renderer:
    """Renders notices with the user's templates first, then the package's."""

    def __init__(self, template_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if template_dir is not None:
            loaders.append(jinja2.FileSystemLoader(template_dir))
        loaders.append(jinja2.FileSystemLoader(PACKAGE_TEMPLATES))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,  # noqa: S701 on for .html templates; the rest is plain text
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["duration"] = human_duration
        self.env.filters["utc"] = utc_minute
        self.env.filters["number"] = number
        self.env.filters["labels"] = label_text

    def context(self, notice: Notice) -> dict[str, Any]:
        alert = notice.alert
        context: dict[str, Any] = {
            "notice": notice,
            "kind": notice.kind,
            "alert": alert,
            "alerts": notice.alerts,
            "status": STATUS[notice.kind],
            "severity": alert.severity.upper() if alert else "INFO",
            "firing_for": notice.at - alert.since if alert and alert.since is not None else None,
        }
        if notice.kind == "digest":
            entries = digest_entries(notice)
            sections = digest_sections(entries)
            listed, unlisted = cut_sections(sections, LISTED)
            context.update(
                entries=entries,
                sections=sections,
                total={h: len(e) for h, e in sections},
                counts=digest_counts(entries),
                listed=listed,
                unlisted=unlisted,
            )
        return context

    def render(self, name: str, notice: Notice) -> str:
        """Template ``name`` filled with the notice; DeliveryError(template) when it fails."""
        try:
            template = self.env.get_template(name)
            return template.render(self.context(notice)).strip()
        except jinja2.TemplateError as exc:
            raise DeliveryError(
                retry=False, reason="template", detail=f"{name}: {exc.message or exc}"
            ) from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise DeliveryError(
                retry=False, reason="template", detail=f"{name}: {type(exc).__name__}"
            ) from None

    def subject(self, notice: Notice) -> str:
        """One line: ``[CRITICAL] ServiceDown production-api``, ``[RESOLVED] ...``, ``[ACK] ...``."""
        return " ".join(self.render("subject.txt.j2", notice).split())

    def text(self, notice: Notice) -> str:
        return self.render(f"{TEMPLATE_FOR_KIND[notice.kind]}.txt.j2", notice)

    def html(self, notice: Notice) -> str:
        return self.render(f"{TEMPLATE_FOR_KIND[notice.kind]}.html.j2", notice)

    def short(self, notice: Notice) -> str:
        """The head of an SMS (one line; :func:`sentinel.notify.sms.sms_text` fits it)."""
        return " ".join(self.render("short.txt.j2", notice).split())

    def status(self, notice: Notice) -> str:
        return STATUS[notice.kind]


def digest_entries(notice: Notice) -> tuple[Folded, ...]:
    """A digest's entries; one built with ``alerts`` alone lists them as fired."""
    if notice.entries:
        return notice.entries
    return tuple(Folded(kind="firing", at=notice.at, alert=a) for a in notice.alerts)


def digest_sections(entries: tuple[Folded, ...]) -> list[tuple[str, list[Folded]]]:
    """Entries grouped by what happened, in :data:`DIGEST_SECTIONS` order; empty ones left out."""
    out = []
    for kind, (heading, _) in DIGEST_SECTIONS.items():
        chosen = [e for e in entries if e.kind == kind]
        if chosen:
            out.append((heading, chosen))
    return out


def digest_counts(entries: tuple[Folded, ...]) -> str:
    """``3 fired, 1 escalated, 2 resolved``."""
    return ", ".join(
        f"{n} {word}"
        for kind, (_, word) in DIGEST_SECTIONS.items()
        if (n := sum(1 for e in entries if e.kind == kind))
    )


def cut_sections(
    sections: list[tuple[str, list[Folded]]], limit: int
) -> tuple[list[tuple[str, list[Folded]]], int]:
    """The first ``limit`` entries across the sections (a section keeps its heading
    even when none of its entries fit), and how many were left out."""
    out, room, left = [], limit, 0
    for heading, entries in sections:
        shown = entries[: max(room, 0)]
        room -= len(shown)
        left += len(entries) - len(shown)
        out.append((heading, shown))
    return out, left
