"""Real PostgreSQL and Redis for the tests that need them.

Addresses come from SENTINEL_TEST_POSTGRES_DSN and SENTINEL_TEST_REDIS_URL
(default: the local servers). When a server does not answer, its tests skip
with the reason, unless SENTINEL_REQUIRE_SERVICES=1 (as in CI), where they fail.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_DSN = os.environ.get(
    "SENTINEL_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SENTINEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def unavailable(what: str, reason: str) -> None:
    message = f"{what} is not reachable ({reason}); start it or set the address in the environment"
    if os.environ.get("SENTINEL_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)
