"""Shared by the notify tests: a real SQLite store in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sentinel.store.sqlite import SqliteStore


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    s = SqliteStore(":memory:")
    await s.open()
    yield s
    await s.close()
