"""Cross-references that a single model cannot check: every name used must exist.

Returns problems as (path, message) so the loader can point at the line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase

from sentinel.config.checks import Check, CheckBase
from sentinel.config.models import Config, serves
from sentinel.config.quote import shown

Path = tuple[str | int, ...]
Problem = tuple[Path, str]


GLOB = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    """Does a ``check:`` selector hold a glob character (else it names one check)?"""
    return not GLOB.isdisjoint(pattern)


def selects(match: dict[str, str], check: CheckBase, check_type: str) -> bool:
    """Does a ``match:`` selector pick this check? ``check`` is a name glob,
    ``type`` the probe type, and every other key a label that must be equal. A plain
    name is compared, not compiled: fnmatch keeps every pattern it compiles (up to
    32,768 regular expressions, ~0.45 kB each), so 10,000 one-check SLOs cost 4.5 MB."""
    for key, want in match.items():
        if key == "check":
            if not (fnmatchcase(check.name, want) if is_glob(want) else check.name == want):
                return False
        elif key == "type":
            if check_type != want:
                return False
        elif check.labels.get(key) != want:
            return False
    return True


def selected(match: dict[str, str], checks: Mapping[str, Check]) -> list[Check]:
    """The checks (by name) that ``match`` picks. A selector naming one check (no glob)
    is looked up, not tried on every check: 10,000 SLOs of one check each are matched
    in milliseconds, not minutes (10,000 x 10,000 selector tests)."""
    name = match.get("check")
    if name is not None and not is_glob(name):
        found = checks.get(name)
        return [found] if found is not None and selects(match, found, found.type) else []
    return [c for c in checks.values() if selects(match, c, c.type)]


def selects_any(match: dict[str, str], checks: Mapping[str, Check]) -> bool:
    """Does ``match`` pick any of ``checks`` (by name)?"""
    name = match.get("check")
    if name is not None and not is_glob(name):
        return bool(selected(match, checks))
    return any(selects(match, c, c.type) for c in checks.values())


def find_problems(config: Config) -> list[Problem]:
    return [
        *_unique_checks(config),
        *_unique_rules(config),
        *_unique_targets(config),
        *_rules_select(config),
        *_slos(config),
        *_sources(config),
        *_dependencies(config),
        *_oncall(config),
        *_targets(config),
        *_voice_callbacks(config),
    ]


def _sources(config: Config) -> Iterator[Problem]:
    """Source names are unique per type, routing keys unique, their policies exist."""
    yield from _duplicates("sources", "source", [s.name for s in config.sources])
    keys: dict[str, int] = {}
    policies = config.escalation.policies
    for i, source in enumerate(config.sources):
        if source.routing_key is not None:
            key = source.routing_key.get_secret_value()
            if key in keys:
                yield ("sources", i, "routing_key"), f"same routing_key as sources[{keys[key]}]"
            keys.setdefault(key, i)
        if source.escalation is not None and source.escalation not in policies:
            yield (
                ("sources", i, "escalation"),
                f"unknown escalation policy {shown(source.escalation)}",
            )
        for k, route in enumerate(source.routes):
            if route.escalation is not None and route.escalation not in policies:
                yield (
                    ("sources", i, "routes", k, "escalation"),
                    f"unknown escalation policy {shown(route.escalation)}",
                )


def _voice_callbacks(config: Config) -> Iterator[Problem]:
    """Twilio posts a call's keypress to sentinel: a voice channel needs its public URL."""
    if config.server.external_url:
        return
    for name, channel in config.channels.items():
        if channel.type == "voice":
            yield (
                ("channels", name),
                (
                    "a voice channel needs server.external_url: the public URL Twilio posts "
                    "the keypress to"
                ),
            )


def _duplicates(section: str, what: str, names: list[str]) -> Iterator[Problem]:
    """A name used twice in one list: where, and where it was first."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            yield (
                (section, i, "name"),
                f"duplicate {what} name {shown(name)} (first at {section}[{seen[name]}])",
            )
        seen.setdefault(name, i)


def _unique_checks(config: Config) -> Iterator[Problem]:
    return _duplicates("checks", "check", [c.name for c in config.checks])


def _unique_rules(config: Config) -> Iterator[Problem]:
    """A rule's name is its alert's name: two rules of one name on one check would
    be one alert that two conditions fire and resolve in turn."""
    seen: dict[str, int] = {}
    for i, rule in enumerate(config.rules):
        if rule.name in seen:
            yield (
                ("rules", i, "name"),
                f"duplicate rule name {shown(rule.name)} (first at rules[{seen[rule.name]}])",
            )
        seen.setdefault(rule.name, i)
    for i, check in enumerate(config.checks):
        inline: dict[str, int] = {}
        for k, rule in enumerate(check.rules):
            where = ("checks", i, "rules", k, "name")
            if rule.name in inline:
                first = f"checks[{i}].rules[{inline[rule.name]}]"
                yield where, f"duplicate rule name {shown(rule.name)} (first at {first})"
            elif rule.name in seen and selects(
                config.rules[seen[rule.name]].match, check, check.type
            ):
                first = f"rules[{seen[rule.name]}], which selects this check"
                yield where, f"duplicate rule name {shown(rule.name)} (first at {first})"
            inline.setdefault(rule.name, k)


def _notify_lists(config: Config) -> Iterator[tuple[Path, list[str]]]:
    for severity in ("critical", "high", "medium", "low"):
        for i, step in enumerate(getattr(config.escalation, severity)):
            yield ("escalation", severity, i, "notify"), step.notify
    for name, steps in config.escalation.policies.items():
        for i, step in enumerate(steps):
            yield ("escalation", "policies", name, i, "notify"), step.notify
    for i, report in enumerate(config.reports):
        yield ("reports", i, "notify"), report.notify


def _unique_targets(config: Config) -> Iterator[Problem]:
    for path, targets in _notify_lists(config):
        seen: dict[str, int] = {}
        for j, target in enumerate(targets):
            if target in seen:
                yield (
                    (*path, j),
                    f"target {shown(target)} is listed twice (first at notify[{seen[target]}])",
                )
            seen.setdefault(target, j)


def _rules_select(config: Config) -> Iterator[Problem]:
    checks = {c.name: c for c in config.checks}
    for i, rule in enumerate(config.rules):
        if not selects_any(rule.match, checks):
            yield ("rules", i, "match"), f"rule {shown(rule.name)} selects no check"


def _slos(config: Config) -> Iterator[Problem]:
    """SLO names are unique, each selects a check, and its escalation policy exists."""
    yield from _duplicates("slos", "SLO", [s.name for s in config.slos])
    checks = {c.name: c for c in config.checks}
    for i, slo in enumerate(config.slos):
        if not selects_any(slo.match, checks):
            yield ("slos", i, "match"), f"SLO {shown(slo.name)} selects no check"
        if slo.indicator == "latency":
            beat = next(
                (
                    c
                    for c in config.checks
                    if c.type == "heartbeat" and selects(slo.match, c, c.type)
                ),
                None,
            )
            if beat is not None:
                yield (
                    ("slos", i, "indicator"),
                    f"SLO {shown(slo.name)} measures latency, but heartbeat check "
                    f"{shown(beat.name)} has no duration of its own (its runs are judgements "
                    "of the last ping, all fast): use an availability SLO, or a rule on "
                    "last_duration_seconds",
                )
        if slo.escalation is not None and slo.escalation not in config.escalation.policies:
            yield ("slos", i, "escalation"), f"unknown escalation policy {shown(slo.escalation)}"


def _dependencies(config: Config) -> Iterator[Problem]:
    names = {c.name for c in config.checks}
    graph = config.dependencies
    for check, deps in graph.items():
        if check not in names:
            yield ("dependencies", check), f"unknown check {shown(check)}"
        for j, dep in enumerate(deps):
            if dep not in names:
                yield ("dependencies", check, j), f"unknown check {shown(dep)}"
            elif dep == check:
                yield ("dependencies", check, j), f"check {shown(check)} depends on itself"
    cycle = _find_cycle(graph)
    if cycle:
        yield (
            ("dependencies", cycle[0]),
            "dependency cycle: " + " -> ".join(c if len(c) <= 16 else shown(c) for c in cycle),
        )


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if nxt == node:
                continue  # reported above as depending on itself
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [*path, nxt]
            if nxt not in state:
                found = visit(nxt, [*path, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in graph:
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def _oncall(config: Config) -> Iterator[Problem]:
    for name, rotation in config.oncall.items():
        for j, who in enumerate(rotation.rotation):
            if who not in config.contacts:
                yield ("oncall", name, "rotation", j), f"unknown contact {shown(who)}"
        for j, override in enumerate(rotation.overrides):
            if override.who not in config.contacts:
                yield (
                    ("oncall", name, "overrides", j, "who"),
                    f"unknown contact {shown(override.who)}",
                )


def target_problem(target: str, config: Config) -> str | None:
    """Why a notification target cannot be resolved, or None when it can."""
    kind, _, rest = target.partition(":")
    if rest:
        if kind == "oncall":
            return None if rest in config.oncall else f"unknown on-call schedule {shown(rest)}"
        if kind == "email":
            if "@" not in rest:
                return f"invalid email address {shown(rest)}"
            if not any(serves(c.type) == "email" for c in config.channels.values()):
                return f"{shown(target)} needs a channel of type email or smtp"
            return None
        return f"unknown target kind {shown(kind)} (use a channel, a contact, oncall: or email:)"
    if target in config.channels:
        return None
    if target in config.contacts:
        return _unreachable(target, config)
    return f"unknown channel or contact {shown(target)}"


def _unreachable(name: str, config: Config) -> str | None:
    """A contact is reachable when one of its addresses has a channel of that type."""
    contact = config.contacts[name]
    types = {serves(c.type) for c in config.channels.values()}
    bot_slack = any(
        c.type == "slack" and getattr(c, "token", None) for c in config.channels.values()
    )
    if (
        (contact.phone and types & {"sms", "voice"})
        or (contact.email and "email" in types)
        or (contact.slack and bot_slack)
    ):
        return None
    return f"contact {shown(name)} has no address that a configured channel can reach"


def _targets(config: Config) -> Iterator[Problem]:
    for path, targets in _notify_lists(config):
        for j, target in enumerate(targets):
            problem = target_problem(target, config)
            if problem:
                yield (*path, j), problem
    policies = config.escalation.policies
    for i, rule in enumerate(config.rules):
        if rule.escalation is not None and rule.escalation not in policies:
            yield ("rules", i, "escalation"), f"unknown escalation policy {shown(rule.escalation)}"
    for i, check in enumerate(config.checks):
        for k, rule in enumerate(check.rules):
            if rule.escalation is not None and rule.escalation not in policies:
                yield (
                    ("checks", i, "rules", k, "escalation"),
                    f"unknown escalation policy {shown(rule.escalation)}",
                )
