"""What a store does, one protocol per aggregate.

Each consumer asks for the one protocol it needs (the dispatcher and the escalator
an :class:`OutboxStore`, the incident journal an :class:`IncidentStore`, the status
page's uptime bars an :class:`UptimeStore`, ...), so a new backend can be written and
contract-tested aggregate by aggregate (tests/store/test_contract.py has one class per
protocol). :class:`Store` is their union: what :func:`sentinel.store.open_store`
returns and what the daemon, which wires everything, holds.

Aggregates and their tables:

- :class:`StoreLifecycle`: open, close, ping (the connection itself)
- :class:`ResultSink` / :class:`HistoryStore`: check results (``results``)
- :class:`LatestStore`: the newest stored result of each check (``results``; a cluster
  member shows the checks other members probe from it)
- :class:`UptimeStore`: the daily uptime rollup read by the page and reports
- :class:`HeartbeatStore`: the last pings of each heartbeat
- :class:`AlertStore`: pending and firing alerts
- :class:`SilenceStore`: silences
- :class:`OutboxStore`: escalation progress and the notification outbox, written
  together in one transaction
- :class:`IncidentStore`: incidents and their timelines
- :class:`SloStore`: good and total runs per SLO per minute (``slo_minutes``), and per
  hour once older than six hours (``slo_hours``)
- :class:`HoldStore`: the resolutions that hold SLO alerts' inhibition
  (``inhibition_holds``)
- :class:`KeyStore`: small named values kept once (the ack secret, ``moved_to``)
- :class:`ViewStore`: each place's latest view of a check probed from several
  (``location_views``, read by the check's primary owner in a cluster)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sentinel.cluster.quorum import View
from sentinel.escalation.incidents import Incident, IncidentEvent
from sentinel.notify.outbox import Delivery
from sentinel.probes.heartbeats import Beat
from sentinel.probes.results import Result
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance


class StoreLifecycle(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the store answers; never raises."""
        ...


class ResultSink(Protocol):
    """What the history writer needs of a store."""

    async def add_results(self, results: Sequence[Result]) -> None: ...


class HistoryStore(ResultSink, Protocol):
    async def recent_results(self, check: str, limit: int = 100) -> list[Result]:
        """The newest results of one check, newest first."""
        ...

    async def prune_results(self, older_than: datetime) -> int:
        """Delete history before ``older_than`` (results, daily uptime, finished outbox
        rows); returns how many results went."""
        ...

    async def durations(self, check: str, since: float, until: float) -> list[float]:
        """Run durations of one check in [since, until) (for latency quantiles)."""
        ...


class LatestStore(Protocol):
    async def latest_results(self, checks: Sequence[str]) -> list[Result]:
        """The newest stored result of each of ``checks`` (nothing for a check without
        one), in one read: what a cluster member shows of the checks others probe."""
        ...


class UptimeStore(Protocol):
    async def uptime_days(
        self, since_day: int, checks: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int, int, int, float]]]:
        """Per check: (day since the epoch, ok results, all results, duration sum)."""
        ...


class HeartbeatStore(Protocol):
    async def save_heartbeat(self, name: str, beat: Beat) -> None:
        """Keep the last pings of one heartbeat (written at once: they must survive a restart)."""
        ...

    async def load_heartbeats(self) -> dict[str, Beat]: ...


class AlertStore(Protocol):
    async def save_alert(self, alert: Instance) -> None:
        """Keep a pending or firing alert (on each transition)."""
        ...

    async def delete_alert(self, fingerprint: str) -> None: ...

    async def save_alerts(self, alerts: Sequence[Instance], deleted: Sequence[str]) -> None:
        """Keep ``alerts`` and drop the ``deleted`` fingerprints in one transaction (a
        group of 1,000 inbound alerts costs one commit, not 1,000)."""
        ...

    async def load_alerts(self) -> list[Instance]: ...

    async def load_external(
        self, fingerprints: Sequence[str], sources: Sequence[str]
    ) -> tuple[dict[str, Instance], dict[str, float], dict[str, float]]:
        """Several replicas (docs/sources.md, "Several replicas"): the stored alerts of
        these fingerprints (by fingerprint), the end of each one's last resolved episode,
        and when each of ``sources`` last spoke to any member."""
        ...

    async def save_external(
        self,
        alerts: Sequence[Instance],
        deleted: Sequence[str],
        ended: Mapping[str, float],
        spoke: Mapping[str, float],
    ) -> None:
        """:meth:`save_alerts`, plus the end of each ``ended`` alert's episode and the
        time each source of ``spoke`` spoke (each kept only when later than the stored
        one), in one transaction."""
        ...

    async def prune_external(self, before: float) -> int:
        """Forget the ends of episodes that ended before ``before``; returns how many."""
        ...


class SilenceStore(Protocol):
    async def save_silence(self, silence: Silence) -> None:
        """Create or replace (expiring one is saving it with an earlier end)."""
        ...

    async def load_silences(self) -> list[Silence]: ...


class OutboxStore(Protocol):
    async def commit_notifications(
        self,
        escalations: Sequence[tuple[str, dict[str, Any] | None]],
        deliveries: Sequence[Delivery],
        now: float,
    ) -> list[Delivery]:
        """Escalation progress (None deletes it) and new outbox rows, in one transaction;
        rows whose dedup key exists are skipped. Returns the new rows, with ids."""
        ...

    async def update_deliveries(self, rows: Sequence[Delivery]) -> None: ...

    async def load_escalations(self) -> list[dict[str, Any]]: ...

    async def open_deliveries(self) -> list[Delivery]:
        """Pending and held outbox rows, oldest first."""
        ...

    async def deliveries_for(self, fingerprint: str) -> list[Delivery]: ...

    async def thread_refs(self) -> dict[tuple[str, str, str], dict[str, str]]: ...

    async def notification_counts(self, since: float, until: float) -> dict[tuple[str, str], int]:
        """(channel, state) -> outbox rows created in [since, until)."""
        ...


class IncidentStore(Protocol):
    async def save_incident(self, i: Incident, events: Sequence[IncidentEvent] = ()) -> None:
        """Create or replace an incident and append timeline events, in one transaction."""
        ...

    async def write_up(
        self, incident_id: str, fields: Mapping[str, str], events: Sequence[IncidentEvent] = ()
    ) -> None:
        """Set any of root_cause, resolution, preventive, and append events (notes)."""
        ...

    async def add_incident_events(
        self, incident_id: str, events: Sequence[IncidentEvent]
    ) -> None: ...

    async def incidents(
        self, *, limit: int = 50, offset: int = 0, since: float | None = None
    ) -> list[Incident]:
        """Newest first."""
        ...

    async def count_incidents(self, since: float | None = None) -> int: ...

    async def incident(self, incident_id: str) -> tuple[Incident, list[IncidentEvent]] | None: ...

    async def open_incidents(self) -> list[Incident]: ...


SloMinute = tuple[str, int, int, int]  # (slo, minute since the epoch, good, total)
SloDay = tuple[int, int, int]  # (UTC day since the epoch, good, total) of one SLO
# (slo, first minute of the hour, good, total, earliest minute summed into it)
SloHour = tuple[str, int, int, int, int]
# (slo, minute, good, total, when the newest of its rows was written: database seconds)
SloWritten = tuple[str, int, int, int, float]


def shift_groups(shifts: Mapping[str, int]) -> list[tuple[int, list[str], bool]]:
    """How a roll-up goes through the SLOs: (shift, names, among) per statement, among
    False for "every SLO but these" (the SLOs on whole UTC hours, shift 0)."""
    by_shift: dict[int, list[str]] = {}
    for name, shift in shifts.items():
        if shift % 60:
            by_shift.setdefault(shift % 60, []).append(name)
    shifted = sorted(n for names in by_shift.values() for n in names)
    return [(0, shifted, False)] + [(s, sorted(by_shift[s]), True) for s in sorted(by_shift)]


class SloStore(Protocol):
    async def save_slo_minutes(self, rows: Sequence[SloMinute], member: str = "") -> None:
        """Keep whole minutes of one member (several replicas; ``""`` for one process): a
        row replaces the stored one of its (slo, minute, member), never another member's."""
        ...

    async def load_slo_minutes(
        self, since_minute: int, slos: Sequence[str] | None = None
    ) -> list[SloMinute]:
        """Minutes from ``since_minute`` on, summed over the members, of the SLOs named
        (None: all), by SLO, each SLO's oldest first."""
        ...

    async def others_slo_minutes(
        self, member: str, since_minute: int, written_since: float
    ) -> list[SloWritten]:
        """The minutes from ``since_minute`` on that a member other than ``member`` wrote
        at or after ``written_since`` (the database's clock; <= 0: all of them), each with
        the sum of every other member's counts of it and the newest write."""
        ...

    async def load_slo_hours(
        self, since_minute: int, slos: Sequence[str] | None = None
    ) -> list[SloHour]:
        """Rolled-up hours starting from ``since_minute`` on, of the SLOs named (None:
        all), by SLO, each SLO's oldest first."""
        ...

    async def roll_up_slo_minutes(
        self, before_minute: int, shifts: Mapping[str, int] | None = None
    ) -> int:
        """Sum the minutes before ``before_minute`` into hours (added to an hour already
        rolled) and delete them, in one transaction: a crash rolls back both, so nothing
        is counted twice. An hour is a UTC hour; an SLO in ``shifts`` (minutes past the
        UTC hour where its hours start, 1 to 59) gets a row for each part of the UTC
        hour on either side of its own hour's start. Returns the minutes rolled up."""
        ...

    async def slo_days(self, slo: str, since_minute: int, until_minute: int) -> list[SloDay]:
        """One SLO's good and total runs per UTC day, of its minutes and hours that
        start in ``[since_minute, until_minute)``, oldest day first (for reports)."""
        ...

    async def prune_slo_minutes(self, before_minute: int) -> int:
        """Delete minutes, and hours, starting before ``before_minute`` (prune_results
        leaves them alone); returns how many rows went."""
        ...


# (fingerprint, labels as routing saw them, resolved at) of an alert that may hold an SLO
# alert's inhibition (sentinel/app/alerts_holds.py)
HoldRow = tuple[str, dict[str, str], float]


class HoldStore(Protocol):
    async def save_holds(
        self, saved: Sequence[HoldRow], deleted: Sequence[str], before: float
    ) -> None:
        """Keep ``saved`` (a row replaces the stored one of its fingerprint), then drop
        the ``deleted`` fingerprints and every row resolved before ``before`` (saved
        ones too), in one transaction."""
        ...

    async def load_holds(self, since: float) -> list[HoldRow]:
        """The rows resolved at ``since`` or later, oldest first."""
        ...


class KeyStore(Protocol):
    async def get_key(self, name: str) -> str | None: ...

    async def set_key_once(self, name: str, value: str) -> str:
        """Keep ``value`` under ``name`` unless one exists; returns the value kept."""
        ...


class ViewStore(Protocol):
    async def save_view(self, view: View) -> None:
        """Replace the place's view of the check (written at once: others read it)."""
        ...

    async def load_views(self, checks: Sequence[str]) -> list[View]:
        """The latest view of every place for ``checks``."""
        ...


class Store(
    StoreLifecycle,
    HistoryStore,
    LatestStore,
    UptimeStore,
    HeartbeatStore,
    AlertStore,
    SilenceStore,
    OutboxStore,
    IncidentStore,
    SloStore,
    HoldStore,
    KeyStore,
    ViewStore,
    Protocol,
):
    """Every aggregate: what a backend implements and the daemon holds."""


__all__ = [
    "AlertStore",
    "HeartbeatStore",
    "HistoryStore",
    "HoldRow",
    "HoldStore",
    "IncidentStore",
    "KeyStore",
    "LatestStore",
    "OutboxStore",
    "ResultSink",
    "SilenceStore",
    "SloHour",
    "SloMinute",
    "SloStore",
    "Store",
    "StoreLifecycle",
    "UptimeStore",
]
