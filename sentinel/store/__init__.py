"""Where sentinel keeps its state: the Store protocol and ``open_store(url)``.

URLs:

- ``sqlite:///abs/path.db``: the absolute path ``/abs/path.db``
- ``sqlite:relative/path.db``: relative to the working directory
- ``sqlite::memory:``: nothing kept (tests, one-off runs)
- ``postgresql://...``: accepted by the config, refused until the PostgreSQL store lands

Errors never echo the URL: it may hold a password.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sentinel.results import Result


class StoreError(Exception):
    """The store cannot be opened or used; the message is safe to log."""


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
        """Delete results that started before ``older_than``; returns how many."""
        ...


def open_store(url: str) -> Store:
    scheme, sep, rest = url.partition(":")
    if not sep:
        raise StoreError("storage url must start with sqlite: or postgresql:")
    if scheme == "sqlite":
        from sentinel.store.sqlite import SqliteStore

        if rest == ":memory:":
            return SqliteStore(":memory:")
        if rest.startswith("//"):
            path = rest[2:]
            if not path.startswith("/"):
                raise StoreError("sqlite url: use sqlite:///abs/path.db or sqlite:relative/path.db")
            return SqliteStore(path)
        if not rest:
            raise StoreError("sqlite url needs a path")
        return SqliteStore(rest)
    if scheme in ("postgresql", "postgres"):
        raise StoreError("postgresql storage is not available yet; use sqlite")
    raise StoreError(f"unknown storage scheme {scheme[:20]!r}; use sqlite or postgresql")


__all__ = ["Store", "StoreError", "open_store"]
