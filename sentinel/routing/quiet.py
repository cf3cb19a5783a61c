"""Why an alert should stay quiet right now: a dependency is down, maintenance, a
silence, or inhibition by another firing alert.

Pure functions of the config, the time, which checks are down, the silences and
the firing alerts; the daemon (and ``sentinel simulate``) mark alerts with the
reason (they stay visible) and send nothing for them. Resolutions always go
through.

An SLO's alert is also held by an inhibiting alert on one of its checks while that
alert is pending and for the pair's short window (plus a minute) after it resolves
(:func:`slo_holds`, the SLO's ``inhibition_hold``): the window still holds the
failures the source alert paged for, so lifting the inhibition at once would page
again for an outage that is over (docs/slos.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sentinel.config.cron import crontab
from sentinel.config.models import AlertMatcher, Config, Inhibit, Maintenance
from sentinel.config.references import selected, selects
from sentinel.config.rule import Rule
from sentinel.config.slo import Slo, alert_rule
from sentinel.config.units import format_duration
from sentinel.probes.results import Labels
from sentinel.routing.silences import Silence, silenced_by

Firing = Sequence[tuple[str, dict[str, str]]]  # (alert id, labels) of every firing alert
# (alert id, labels, when, pending) of the alerts resolved lately (when: resolved at) and
# of those pending now (when: pending since)
Held = Sequence[tuple[str, dict[str, str], float, bool]]

# An SLO pair is evaluated once a minute: it resolves up to a minute after its short
# window lets go of the last failure.
HOLD_MARGIN = 60.0


@dataclass(frozen=True, slots=True)
class Hold:
    """An SLO alert's inhibition hold: an inhibiting alert on one of ``checks`` (the
    SLO's) inhibits it for ``seconds`` after it resolves, and while pending if it was
    pending when the SLO alert fired."""

    seconds: float
    checks: frozenset[str]
    window: str  # the pair's short window, as SREs write it ("5m")


def slo_holds(config: Config) -> dict[str, Hold]:
    """The inhibition hold of each SLO alert, by rule name (``SLO:<slo>:<pair>``): its
    short window plus :data:`HOLD_MARGIN`. None without inhibit rules, nor for an SLO
    with ``inhibition_hold: false``."""
    if not config.inhibit:
        return {}
    out = {}
    by_name = {c.name: c for c in config.checks}
    for slo in config.slos:
        if not slo.inhibition_hold:
            continue
        checks = frozenset(c.name for c in selected(slo.match, by_name))
        for pair, alert in slo.burn_alerts().items():
            window = format_duration(alert.short)
            out[alert_rule(slo.name, pair)] = Hold(alert.short + HOLD_MARGIN, checks, window)
    return out


def in_maintenance(window: Maintenance, now: datetime) -> bool:
    """Has the window's cron fired within the last ``duration``? Cron times are read in
    the window's time zone, so a 02:00 window stays at 02:00 local across DST changes."""
    trigger = crontab(window.cron, ZoneInfo(window.timezone))
    start = trigger.get_next_fire_time(None, now - timedelta(seconds=window.duration))
    return start is not None and start <= now


def window_times(window: Maintenance, now: datetime) -> tuple[datetime, datetime] | None:
    """The window in force now, else the next one: (start, end); None if it never comes."""
    trigger = crontab(window.cron, ZoneInfo(window.timezone))
    start = trigger.get_next_fire_time(None, now - timedelta(seconds=window.duration))
    if start is None:
        return None
    return start, start + timedelta(seconds=window.duration)


def labels_match(match: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in match.items())


class MaintenanceTimes:
    """Which maintenance windows are in force at a time, asked once per run (the SLO
    engine's ``maintenance: exclude``): each window's spans over a day around the time
    asked are kept, so most answers are a few comparisons (runs may arrive out of order)."""

    AHEAD = 86400.0
    BEHIND = 3600.0

    def __init__(self, windows: Sequence[Maintenance]) -> None:
        self.windows = list(windows)
        # window index -> (from, until, [(start, end), ...] of the spans in between)
        self._spans: dict[int, tuple[float, float, list[tuple[float, float]]]] = {}

    def covering(self, labels: dict[str, str]) -> tuple[int, ...]:
        """The windows whose ``match`` covers a check with these labels."""
        return tuple(i for i, w in enumerate(self.windows) if labels_match(w.match, labels))

    def active(self, index: int, at: float) -> bool:
        kept = self._spans.get(index)
        if kept is None or not kept[0] <= at <= kept[1]:
            lo, hi = at - self.BEHIND, at + self.AHEAD
            kept = self._spans[index] = (lo, hi, _spans(self.windows[index], lo, hi))
        return any(start <= at <= end for start, end in kept[2])


def _spans(window: Maintenance, lo: float, hi: float) -> list[tuple[float, float]]:
    """[start, end] of each time the window is in force between ``lo`` and ``hi``."""
    trigger = crontab(window.cron, ZoneInfo(window.timezone))
    at = datetime.fromtimestamp(lo - window.duration, UTC)
    out = []
    for _ in range(10_000):  # a window every minute is 1440 a day
        fire = trigger.get_next_fire_time(None, at)
        if fire is None or fire.timestamp() > hi:
            break
        out.append((fire.timestamp(), fire.timestamp() + window.duration))
        at = fire + timedelta(seconds=1)
    return out


def slo_in_maintenance(config: Config, slo: Slo, window: Maintenance) -> bool:
    """Does a maintenance window quiet an SLO's alerts? When its ``match`` names the SLO's
    own labels (``slo`` and its ``labels``), or covers every check the SLO selects (the
    whole service is in maintenance; an empty ``match`` covers everything)."""
    if labels_match(window.match, {**slo.labels, "slo": slo.name}):
        return True
    chosen = [c for c in config.checks if selects(slo.match, c, c.type)]
    return bool(chosen) and all(labels_match(window.match, c.labels) for c in chosen)


def matches_alert(matcher: AlertMatcher, labels: dict[str, str]) -> bool:
    return (matcher.alert is None or labels.get("alertname") == matcher.alert) and labels_match(
        matcher.labels, labels
    )


def inhibited_by(
    rules: list[Inhibit],
    target: dict[str, str],
    target_id: str,
    firing: Firing,
    held: Held = (),
    hold: Hold | None = None,
    now: float = 0.0,
    fired_at: float | None = None,
) -> str | None:
    """Alertmanager's inhibition: a firing source alert quiets matching targets that share
    the ``equal`` labels (a label absent on both sides counts as equal). An alert never
    inhibits itself. ``firing`` holds (id, labels) of every firing alert.

    With a ``hold`` (the target is an SLO's alert, firing since ``fired_at``), a source on
    one of the SLO's checks among ``held`` inhibits it too: until ``hold.seconds`` after
    it resolved (``now``: unix time), and while it is pending if it was pending when the
    target fired (it is about to fire for the same failures, or to clear)."""
    for rule in rules:
        if not matches_alert(rule.target, target):
            continue
        for source_id, source in firing:
            if source_id == target_id or not matches_alert(rule.source, source):
                continue
            if all(source.get(k) == target.get(k) for k in rule.equal):
                return f"inhibited by {source.get('alertname')} on {source.get('check')}"
    if hold is None:
        return None
    for rule in rules:
        if not matches_alert(rule.target, target):
            continue
        for source_id, source, when, pending in held:
            if source_id == target_id or source.get("check") not in hold.checks:
                continue
            if pending and (fired_at is None or when > fired_at):
                continue  # pending since after the target fired: not about the same failures
            if not pending and now - when >= hold.seconds:
                continue
            if not matches_alert(rule.source, source):
                continue
            if all(source.get(k) == target.get(k) for k in rule.equal):
                return held_reason(source, None if pending else when, hold)
    return None


def held_reason(source: dict[str, str], resolved: float | None, hold: Hold) -> str:
    name = f"{source.get('alertname')} on {source.get('check')}"
    if resolved is None:
        return f"inhibited by {name} (pending: it fires, or clears and this one pages)"
    at = datetime.fromtimestamp(resolved, UTC).strftime("%H:%M:%S")
    until = datetime.fromtimestamp(resolved + hold.seconds, UTC).strftime("%H:%M:%S")
    return (
        f"inhibited by {name} (resolved {at} UTC; held until {until} UTC while the"
        f" {hold.window} window holds its failures)"
    )


def quiet_reason(
    config: Config, check: str, labels: dict[str, str], now: datetime, down: set[str]
) -> str | None:
    """The first reason this check's alerts are suppressed, or None."""
    for dependency in config.dependencies.get(check, []):
        if dependency in down:
            return f"dependency {dependency} is down"
    slo = next((s for s in config.slos if s.name == check), None) if config.maintenance else None
    for window in config.maintenance:
        if slo is not None:  # an SLO's alert: check is the SLO's name (names are unique)
            if in_maintenance(window, now) and slo_in_maintenance(config, slo, window):
                return f"maintenance {window.name}"
        elif labels_match(window.match, labels) and in_maintenance(window, now):
            return f"maintenance {window.name}"
    return None


def alert_labels(
    rule_name: str, check: str, labels: Labels, check_labels: dict[str, str], rule: Rule | None
) -> dict[str, str]:
    """An alert's labels as routing sees them: alertname, check, severity, the check's
    and the rule's labels, and the instance's own."""
    return {
        "alertname": rule_name,
        "check": check,
        "severity": rule.severity if rule else "high",
        **check_labels,
        **(rule.labels if rule else {}),
        **dict(labels),
    }


def why_quiet(
    config: Config,
    check: str,
    check_labels: dict[str, str],
    labels: dict[str, str],
    alert_id: str,
    now: datetime,
    down: set[str],
    silences: Sequence[Silence],
    firing: Callable[[], Firing],
    held: Callable[[], Held] = lambda: (),
    hold: Hold | None = None,
    fired_at: float | None = None,
) -> str | None:
    """Why this alert is suppressed now, if it is: a dependency down or maintenance
    (:func:`quiet_reason`), a silence, or inhibition (held, for an SLO's alert with a
    ``hold`` firing since ``fired_at``: see :func:`inhibited_by`). ``firing`` and
    ``held`` are called only when inhibition rules exist (``held`` only with a ``hold``)."""
    reason = quiet_reason(config, check, check_labels, now, down)
    if reason is not None:
        return reason
    silence = silenced_by(silences, labels, now)
    if silence is not None:
        return f"silenced by {silence.id} ({silence.author}: {silence.comment})"
    if not config.inhibit:
        return None
    return inhibited_by(
        config.inhibit,
        labels,
        alert_id,
        firing(),
        held() if hold is not None else (),
        hold,
        now.timestamp(),
        fired_at,
    )
