"""Real PostgreSQL and Redis for the tests that need them.

Addresses come from SENTINEL_TEST_POSTGRES_DSN and SENTINEL_TEST_REDIS_URL
(default: the local servers). When none answers there, a throwaway server is
started from the installed binaries (pytest-redis, pytest-postgresql). When
that is not possible either, the tests fail with the reason.

The same goes for the system tools some tests run (promtool, Chromium, kubectl):
`make test` installs them first (scripts/system-tools.sh). A test whose
service or tool is missing FAILS by default, in CI and on a laptop alike; it
skips only when the developer asks for it with SENTINEL_ALLOW_SKIP=1.
SENTINEL_REQUIRE_SERVICES=1 (CI's former switch) is still accepted: it makes
sure nothing skips even when SENTINEL_ALLOW_SKIP=1 is set.
"""

from __future__ import annotations

import asyncio
import glob
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from typing import NoReturn
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
from pytest_postgresql import factories as postgresql_factories
from pytest_redis import factories as redis_factories

POSTGRES_DSN = os.environ.get(
    "SENTINEL_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SENTINEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_SERVER = shutil.which("redis-server")
PG_CTL = next(
    iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)),
    shutil.which("pg_ctl"),
)

throwaway_redis = redis_factories.redis_proc(
    executable=REDIS_SERVER or "redis-server",
    port=None,  # type: ignore[arg-type]  # None means any free port, as documented
)
throwaway_postgres = postgresql_factories.postgresql_proc(
    executable=PG_CTL or "pg_ctl", port=None, user="postgres"
)


def skipping_allowed(env: dict[str, str] | None = None) -> bool:
    """Whether a test may skip for a missing service or tool: only on request."""
    env = dict(os.environ) if env is None else env
    return env.get("SENTINEL_ALLOW_SKIP") == "1" and env.get("SENTINEL_REQUIRE_SERVICES") != "1"


def missing(message: str) -> NoReturn:
    """A service or tool the test needs is not there: fail, or skip when allowed."""
    if skipping_allowed():
        pytest.skip(message)
    pytest.fail(f"{message} (SENTINEL_ALLOW_SKIP=1 skips such tests instead)", pytrace=False)


def system_tool(name: str, package: str) -> str:
    """The path of a system tool from Debian's ``package``; missing() when absent."""
    found = shutil.which(name)
    if found is None:
        missing(
            f"{name} not found: install Debian's {package} package "
            "(`make test` does it: scripts/system-tools.sh)"
        )
    return found


def unavailable(what: str, reason: str) -> NoReturn:
    missing(f"{what} is not reachable ({reason}); start it or set the address in the environment")


def answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """A Redis URL that answers: the configured one, or a throwaway server."""
    if answers(REDIS_URL, 6379):
        return REDIS_URL
    if REDIS_SERVER is None:
        unavailable("Redis", "nothing answers and redis-server is not installed")
    proc = request.getfixturevalue("throwaway_redis")
    return f"redis://{proc.host}:{proc.port}/0"


@pytest.fixture(scope="session")
def postgres_dsn(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL DSN that answers: the configured one, or a throwaway server."""
    if answers(POSTGRES_DSN, 5432):
        return POSTGRES_DSN
    if PG_CTL is None:
        unavailable("PostgreSQL", "nothing answers and pg_ctl is not installed")
    if os.geteuid() == 0:
        unavailable(
            "PostgreSQL",
            "nothing answers, and PostgreSQL will not start a throwaway server as root",
        )
    proc = request.getfixturevalue("throwaway_postgres")
    return f"postgresql://{proc.user}@{proc.host}:{proc.port}/postgres"


# -- a fresh PostgreSQL database per test run ------------------------------------
# The server is shared: this run creates one database of its own, with a name no
# other run can pick, and drops it at the end; it never touches another database.


async def _admin(dsn: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name, query=""))


@pytest.fixture(scope="session")
def postgres_database(postgres_dsn: str) -> Iterator[str]:
    """The URL of a database made for this test run (``sentinel_test_<pid>_<random>``),
    dropped (connections and all) when the run ends."""
    name = f"sentinel_test_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(postgres_dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(postgres_dsn, name)
    finally:
        asyncio.run(_admin(postgres_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A storage URL on this run's database with a schema of its own: each test starts
    from an empty store (tables go into the first schema of ``search_path``)."""
    schema = f"t_{secrets.token_hex(6)}"
    asyncio.run(_admin(postgres_database, f'CREATE SCHEMA "{schema}"'))
    return postgres_database + "?" + urlencode({"search_path": schema})
