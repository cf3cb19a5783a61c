"""The store fixtures: one store per backend (SQLite in a temporary directory, a
fresh schema in this run's own PostgreSQL database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sentinel.store import Store, open_store
from tests.services import postgres_database, postgres_url

__all__ = ["postgres_database", "postgres_url"]

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL of an empty store, once per backend."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/nested/state.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()
