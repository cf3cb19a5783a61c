"""A failed real-process test must not leave a sentinel running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.harness import reap


@pytest.fixture(autouse=True)
def _reap_processes() -> Iterator[None]:
    yield
    reap()
