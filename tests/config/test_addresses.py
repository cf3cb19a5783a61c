"""Parity: an address the config accepts is one its client library accepts too, so
whatever ``validate`` accepts, ``run`` and ``check`` can use (issue 12, defect 5)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import asyncpg
import pytest
import redis.asyncio as aioredis
from asyncpg.connect_utils import _parse_connect_dsn_and_args
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel.clock import FakeClock
from sentinel.config import ConfigError, parse_config
from sentinel.config.addresses import host_port, postgres_dsn, redis_url
from sentinel.config.checks import RedisCheck, TcpCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.redis import RedisProbe
from sentinel.probes.tcp import TcpProbe

FIXED = settings(
    derandomize=True, deadline=None, max_examples=400, suppress_health_check=list(HealthCheck)
)
HOSTS = st.sampled_from(["127.0.0.1", "db", "[::1]", "[zz]", "a" * 64, "a..b", "", "h_1", "é.fr"])
PORTS = st.sampled_from(["", ":5432", ":0", ":99999", ":notaport", ":", ":65535", ":٣"])
PATHS = st.sampled_from(["", "/", "/0", "/app", "/x/y", "/15"])
QUERIES = st.sampled_from(
    [
        *("", "?sslmode=require", "?sslmode=always", "?target_session_attrs=any", "?port=x"),
        *(
            "?socket_timeout=2",
            "?socket_timeout=x",
            "?db=3",
            "?retries=1",
            "?health_check_interval=1",
        ),
    ]
)


def urls(schemes: list[str]) -> st.SearchStrategy[str]:
    userinfo = st.sampled_from(["", "u@", "u:p@", ":p@", "u:p:q@"])
    parts = st.tuples(st.sampled_from(schemes), userinfo, HOSTS, PORTS, PATHS, QUERIES)
    return parts.map("".join)


def accepted(check: Callable[[str], str], value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


@FIXED
@given(urls(["redis://", "rediss://", "unix://", "http://", "redis:"]))
async def test_a_redis_url_the_config_accepts_builds_a_client(url: str) -> None:
    """`validate` accepted port 'notaport' and `check` died in redis.from_url."""
    if not accepted(redis_url, url):
        return
    client = aioredis.from_url(url)
    await client.aclose()
    check = RedisCheck(type="redis", name="r", url=url)
    probe = RedisProbe(check, ProbeContext(clock=FakeClock()))
    await probe.close()


@FIXED
@given(urls(["postgresql://", "postgres://", "postgresql+asyncpg://", "pg://", "host="]))
def test_a_postgres_dsn_the_config_accepts_is_one_asyncpg_parses(dsn: str) -> None:
    """asyncpg raised ValueError (not a connection error) for a port that is not a number."""
    if not accepted(postgres_dsn, dsn):
        return
    # ClientConfigurationError (a certificate file it looks for, say) is fine: the probe
    # reports it as a failed check. ValueError, TypeError, OverflowError are not.
    with contextlib.suppress(asyncpg.ClientConfigurationError):
        _parse_connect_dsn_and_args(
            dsn=dsn,
            host=None,
            port=None,
            user=None,
            password=None,
            passfile=None,
            database=None,
            ssl=None,
            service=None,
            servicefile=None,
            direct_tls=None,
            server_settings=None,
            target_session_attrs=None,
            krbsrvname=None,
            gsslib=None,
        )


@FIXED
@given(st.tuples(HOSTS, PORTS).map("".join))
def test_a_target_the_config_accepts_builds_a_tcp_probe(target: str) -> None:
    if not accepted(host_port, target):
        return
    check = TcpCheck(type="tcp", name="t", target=target)
    TcpProbe(check, ProbeContext(clock=FakeClock()))
    assert target.rpartition(":")[0].strip("[]").encode("idna")


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:notaport/0", "redis://h/0?retries=3", "redis://h/db0"]
)
def test_redis_urls_the_client_rejects_are_config_errors(url: str) -> None:
    text = f"checks:\n  - {{name: r, type: redis, url: '{url}'}}\n"
    with pytest.raises(ConfigError, match=r"checks\[0\]\.url"):
        parse_config(text, "x.yaml", {})
