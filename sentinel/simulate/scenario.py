"""Scenarios for ``sentinel simulate``: the YAML file, checked line by line.

    start: "2026-03-02T10:00:00Z"    # optional; default Monday 2026-01-05 09:00 UTC
    until: 2h                        # at most 31d (a month, for SLOs)
    events:
      - {at: 0s,  check: production-api, fail: "connection refused"}
      - {at: 1h,  check: production-api, fail: "502", share: 1%}   # 1 run in 100 fails
      - {at: 20m, ack: ServiceDown, by: alice}
      - {at: 40m, check: production-api, recover: true}
      - {at: 45m, source: prometheus, fire: {alertname: HighErrorRate, severity: critical},
         summary: "5xx above 5%"}         # an alert from a source (sources:), as it arrives
      - {at: 50m, source: prometheus, resolve: {alertname: HighErrorRate, severity: critical}}

A file that does not load raises :class:`ScenarioError` naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from sentinel.config import Config, format_duration, parse_duration
from sentinel.probes.results import Labels
from sentinel.routing.silences import check_matchers

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
MAX_UNTIL = 31 * 86400.0

TOP_KEYS = ("start", "until", "events")
EVENT_KEYS = (
    "at", "check", "fail", "share", "recover", "samples", "ack", "by", "silence", "for",
    "comment", "source", "fire", "resolve", "summary",
)  # fmt: skip
ACTIONS = ("fail", "recover", "samples", "ack", "silence", "fire", "resolve")
_SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?")
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*(?:,|$)')


class ScenarioError(Exception):
    """A scenario file that cannot be replayed; the message names the line when it can."""


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happens at ``at`` seconds after the start."""

    at: float
    line: int
    index: int
    check: str | None = None
    fail: str | None = None  # the check's results fail from now on, with this error
    share: float = 1.0  # the share of runs that fail (evenly spread), 1 = all
    recover: bool = False  # the check's results are ok again
    samples: tuple[tuple[str, Labels, float | None], ...] = ()  # None removes a sample
    ack: str | None = None  # the rule whose firing alerts are acknowledged
    by: str = "simulate"
    silence: dict[str, str] | None = None  # label matchers
    duration: float = 0.0  # the silence's
    comment: str = ""
    source: str | None = None  # fire / resolve: the source (sources:) the alert comes from
    alert: dict[str, str] | None = None  # its labels (they are its identity)
    resolves: bool = False  # resolve: rather than fire:
    summary: str = ""

    @property
    def where(self) -> str:
        return f"line {self.line}: events[{self.index}]"


@dataclass(frozen=True, slots=True)
class Scenario:
    start: datetime
    until: float
    events: tuple[Event, ...]
    source: str = "scenario"


# -- reading a scenario ------------------------------------------------------


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario: {exc.strerror or exc}") from None
    return parse_scenario(text, str(path))


def parse_scenario(text: str, source: str = "scenario") -> Scenario:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ScenarioError(
            f"{where}invalid YAML: {getattr(exc, 'problem', None) or exc}"
        ) from None
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise ScenarioError("line 1: a scenario is a mapping with until: and events:")
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in root.value}
    for key in data:
        if key not in TOP_KEYS:
            raise ScenarioError(
                f"line {lines.get(str(key), 1)}: unknown key {key!r} (known: {', '.join(TOP_KEYS)})"
            )
    start = _start(data.get("start", DEFAULT_START), lines.get("start", 1))
    if "until" not in data:
        raise ScenarioError("line 1: until: is required (how long to run, e.g. 2h)")
    until = _duration(data["until"], f"line {lines['until']}: until")
    if until <= 0 or until > MAX_UNTIL:
        raise ScenarioError(f"line {lines['until']}: until must be more than 0s and at most 31d")
    raw = data.get("events") or []
    if not isinstance(raw, list):
        raise ScenarioError(f"line {lines.get('events', 1)}: events must be a list")
    nodes: list[yaml.Node] = []
    for k, v in root.value:
        if k.value == "events" and isinstance(v, yaml.SequenceNode):
            nodes = list(v.value)
    events = [
        _event(item, i, nodes[i].start_mark.line + 1 if i < len(nodes) else 1, until)
        for i, item in enumerate(raw)
    ]
    events.sort(key=lambda e: e.at)  # stable: events at the same time keep the file's order
    return Scenario(start, until, tuple(events), source)


def _start(value: Any, line: int) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                f"line {line}: start must be an ISO 8601 time, e.g. 2026-03-02T10:00:00Z"
            ) from None
    if not isinstance(value, datetime):
        raise ScenarioError(f"line {line}: start must be an ISO 8601 time")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _duration(value: Any, where: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _event(item: Any, index: int, line: int, until: float) -> Event:
    where = f"line {line}: events[{index}]"
    if not isinstance(item, dict):
        raise ScenarioError(f"{where}: an event is a mapping, e.g. {{at: 5m, check: api, fail: x}}")
    for key in item:
        if key not in EVENT_KEYS:
            raise ScenarioError(f"{where}: unknown key {key!r} (known: {', '.join(EVENT_KEYS)})")
    if "at" not in item:
        raise ScenarioError(f"{where}: at: is required")
    at = _duration(item["at"], f"{where}: at")
    if at > until:
        raise ScenarioError(
            f"{where}: at {format_duration(at)} is after until {format_duration(until)}"
        )
    actions = [a for a in ACTIONS if a in item]
    if len(actions) != 1:
        raise ScenarioError(f"{where}: give exactly one of {', '.join(ACTIONS)}")
    action = actions[0]
    if action in ("fire", "resolve"):
        return _external(item, action, at, line, index, where)
    if "source" in item or "summary" in item:
        raise ScenarioError(f"{where}: source: and summary: belong to fire: or resolve:")
    check = item.get("check")
    if check is not None and not isinstance(check, str):
        raise ScenarioError(f"{where}: check must be a check's name")
    if action in ("fail", "recover", "samples") and check is None:
        raise ScenarioError(f"{where}: {action} needs check:")
    if action != "fail" and "share" in item:
        raise ScenarioError(f"{where}: share: belongs to a fail")
    if action != "silence" and ("for" in item or "comment" in item):
        raise ScenarioError(f"{where}: for: and comment: belong to a silence")
    if action not in ("ack", "silence") and "by" in item:
        raise ScenarioError(f"{where}: by: belongs to an ack or a silence")
    by = item.get("by", "simulate")
    if not isinstance(by, str) or not by.strip():
        raise ScenarioError(f"{where}: by must be a name")
    base = Event(at=at, line=line, index=index, check=check, by=by)
    if action == "fail":
        reason = item["fail"]
        if reason is True:
            reason = "check failed"
        elif isinstance(reason, int | float) and not isinstance(reason, bool):
            reason = str(reason)  # fail: 502
        if not isinstance(reason, str) or not reason.strip():
            raise ScenarioError(f"{where}: fail must be the error text, e.g. connection refused")
        return replace(base, fail=reason, share=_share(item.get("share", 1.0), where))
    if action == "recover":
        if item["recover"] is not True:
            raise ScenarioError(f"{where}: recover must be true")
        return replace(base, recover=True)
    if action == "samples":
        return replace(base, samples=_samples(item["samples"], where))
    if action == "ack":
        if not isinstance(item["ack"], str) or not item["ack"]:
            raise ScenarioError(f"{where}: ack must be a rule's name")
        return replace(base, ack=item["ack"])
    matchers = item["silence"]
    if not isinstance(matchers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in matchers.items()
    ):
        raise ScenarioError(f"{where}: silence must be a mapping of label: value")
    try:
        check_matchers(matchers)
    except ValueError as exc:
        raise ScenarioError(f"{where}: silence: {exc}") from None
    if "for" not in item:
        raise ScenarioError(f"{where}: a silence needs for: (how long)")
    duration = _duration(item["for"], f"{where}: for")
    if duration <= 0:
        raise ScenarioError(f"{where}: for must be more than 0s")
    comment = item.get("comment", "")
    if not isinstance(comment, str):
        raise ScenarioError(f"{where}: comment must be text")
    return replace(base, silence=dict(matchers), duration=duration, comment=comment)


def _external(
    item: dict[str, Any], action: str, at: float, line: int, index: int, where: str
) -> Event:
    """An alert arriving from a source: its labels (its identity) and summary."""
    source = item.get("source")
    if not isinstance(source, str) or not source:
        raise ScenarioError(f"{where}: {action} needs source: (a name under sources:)")
    extra = set(item) - {"at", "source", action, "summary"}
    if extra:
        raise ScenarioError(f"{where}: {', '.join(sorted(extra))} do not belong to {action}:")
    labels = item[action]
    if (
        not isinstance(labels, dict)
        or not labels
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    ):
        raise ScenarioError(f"{where}: {action} must be the alert's labels, label: value")
    summary = item.get("summary", "")
    if not isinstance(summary, str):
        raise ScenarioError(f"{where}: summary must be text")
    return Event(
        at=at, line=line, index=index, source=source, alert=dict(labels),
        resolves=action == "resolve", summary=summary,
    )  # fmt: skip


def _share(value: Any, where: str) -> float:
    """``1%``, ``0.5%`` or a number from 0 to 1 (exclusive of 0)."""
    text = value.strip() if isinstance(value, str) else value
    try:
        if isinstance(text, str):
            number = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
        elif isinstance(text, int | float) and not isinstance(text, bool):
            number = float(text)
        else:
            raise ValueError
    except ValueError:
        number = -1.0
    if not 0 < number <= 1:
        raise ScenarioError(f"{where}: share must be a percentage such as 1% (more than 0)")
    return number


def _samples(value: Any, where: str) -> tuple[tuple[str, Labels, float | None], ...]:
    if not isinstance(value, dict) or not value:
        raise ScenarioError(f"{where}: samples must be a mapping of name: number")
    out: list[tuple[str, Labels, float | None]] = []
    for key, number in value.items():
        m = _SAMPLE.fullmatch(str(key).strip())
        labels: list[tuple[str, str]] = []
        if m is not None and m.group(2) is not None:
            rest = m.group(2).strip()
            while rest:
                lm = _LABEL.match(rest)
                if lm is None:
                    m = None
                    break
                labels.append((lm.group(1), lm.group(2)))
                rest = rest[lm.end() :].strip()
        if m is None:
            raise ScenarioError(
                f'{where}: samples: {key!r} is not a sample name, e.g. name{{label="v"}}'
            )
        if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
            raise ScenarioError(f"{where}: samples: {key} must be a number (or null to remove it)")
        out.append((m.group(1), tuple(labels), None if number is None else float(number)))
    return tuple(out)


def problems(config: Config, scenario: Scenario) -> list[str]:
    """What the scenario names that the config does not have."""
    checks = {c.name for c in config.checks}
    rules = {r.name for r in config.rules} | {r.name for c in config.checks for r in c.rules}
    sources = {s.name for s in config.sources}
    rules |= {e.alert.get("alertname") or e.source or "" for e in scenario.events if e.alert}
    rules |= {f"SLO:{s.name}:{pair}" for s in config.slos for pair in s.burn_alerts()}
    out = []
    for e in scenario.events:
        if e.source is not None and e.source not in sources:
            out.append(f"{e.where}: unknown source {e.source!r}")
        if e.check is not None and e.check not in checks:
            out.append(f"{e.where}: unknown check {e.check!r}")
        if e.ack is not None and e.ack not in rules:
            out.append(f"{e.where}: unknown rule {e.ack!r}")
    return out
