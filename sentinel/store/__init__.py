"""Where sentinel keeps its state: the store protocols (one per aggregate, in
:mod:`sentinel.store.protocols`; ``Store`` is their union) and ``open_store(url)``.

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

from sentinel.store.protocols import ResultSink, Store


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
