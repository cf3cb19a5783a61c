"""PostgreSQL per run (a schema per test), and no sentinel left running after a test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.harness import reap
from tests.services import postgres_database, postgres_url

__all__ = ["postgres_database", "postgres_url"]


@pytest.fixture(autouse=True)
def _reap_processes() -> Iterator[None]:
    yield
    reap()
