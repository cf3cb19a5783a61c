"""Where sentinel keeps its state: the Store protocol and ``open_store(url)``.

URLs:

- ``sqlite:///abs/path.db``: the absolute path ``/abs/path.db``
- ``sqlite:relative/path.db``: relative to the working directory
- ``sqlite::memory:``: nothing kept (tests, one-off runs)
- ``postgresql://user:password@host:5432/db?sslmode=require`` (also ``postgres://`` and
  ``postgresql+asyncpg://``): the PostgreSQL store, any libpq URL asyncpg understands

Errors never echo the URL, which may hold a password: at most its scheme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sentinel.escalation.incidents import Incident, IncidentEvent
from sentinel.notify.outbox import Delivery
from sentinel.probes.heartbeats import Beat
from sentinel.probes.results import Result
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance


class StoreError(Exception):
    """The store cannot be opened or used; the message is safe to log.

    ``transient``: waiting may fix it (the database is busy, refuses connections or
    times out), so starting retries; otherwise (a bad URL, an unwritable file, wrong
    credentials) it never will, and sentinel stops at once.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


MOVED_KEY = "moved_to"
"""Key set by ``sentinel store copy`` on its source: where the state went (no password)."""


def refuse_moved(where: str, moved_to: str | None) -> None:
    """A store copied elsewhere must not page too: refuse it, naming the new one."""
    if moved_to:
        raise StoreError(
            f"{where} was moved to {moved_to} by `sentinel store copy`; point storage.url "
            "there, or start sentinel with --force to use this one anyway"
        )


class ResultSink(Protocol):
    """What the history writer needs of a store."""

    async def add_results(self, results: Sequence[Result]) -> None: ...


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the store answers; never raises."""
        ...

    async def add_results(self, results: Sequence[Result]) -> None: ...

    async def recent_results(self, check: str, limit: int = 100) -> list[Result]:
        """The newest results of one check, newest first."""
        ...

    async def prune_results(self, older_than: datetime) -> int:
        """Delete history before ``older_than`` (results, daily uptime, finished outbox
        rows); returns how many results went."""
        ...

    async def save_heartbeat(self, name: str, beat: Beat) -> None:
        """Keep the last pings of one heartbeat (written at once: they must survive a restart)."""
        ...

    async def load_heartbeats(self) -> dict[str, Beat]: ...

    async def save_alert(self, alert: Instance) -> None:
        """Keep a pending or firing alert (on each transition)."""
        ...

    async def delete_alert(self, fingerprint: str) -> None: ...

    async def load_alerts(self) -> list[Instance]: ...

    async def save_silence(self, silence: Silence) -> None:
        """Create or replace (expiring one is saving it with an earlier end)."""
        ...

    async def load_silences(self) -> list[Silence]: ...

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

    async def get_key(self, name: str) -> str | None: ...

    async def set_key_once(self, name: str, value: str) -> str:
        """Keep ``value`` under ``name`` unless one exists; returns the value kept."""
        ...

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

    async def uptime_days(
        self, since_day: int, checks: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int, int, int, float]]]:
        """Per check: (day since the epoch, ok results, all results, duration sum)."""
        ...

    async def durations(self, check: str, since: float, until: float) -> list[float]: ...

    async def notification_counts(
        self, since: float, until: float
    ) -> dict[tuple[str, str], int]: ...


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}")


def open_store(url: str, *, pool_size: int = 4, force: bool = False) -> Store:
    """The store a storage URL names, not yet opened; StoreError when it names none.

    ``pool_size``: PostgreSQL connections at most. ``force``: open a store marked as
    moved by ``sentinel store copy`` all the same."""
    scheme, sep, rest = url.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme):
        # Whatever came before a ":" may be a user name or a password: say nothing of it.
        raise StoreError("storage url must start with sqlite: or postgresql:")
    scheme = scheme.lower()
    if scheme == "sqlite":
        from sentinel.store.sqlite import SqliteStore

        if rest == ":memory:":
            return SqliteStore(":memory:")
        if rest.startswith("//"):
            path = rest[2:]
            if not path.startswith("/"):
                raise StoreError("sqlite url: use sqlite:///abs/path.db or sqlite:relative/path.db")
        else:
            path = rest
        if not path or path.endswith("/"):
            raise StoreError("sqlite url needs a file name")
        return SqliteStore(path, force=force)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        from sentinel.store.postgres import PostgresStore

        return PostgresStore("postgresql:" + rest, pool_size=pool_size, force=force)
    raise StoreError(f"unknown storage scheme {scheme!r}; use sqlite or postgresql")


__all__ = ["MOVED_KEY", "ResultSink", "Store", "StoreError", "open_store", "refuse_moved"]
