"""Redis probe against a real Redis server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from sentinel.clock import FakeClock
from sentinel.config.checks import RedisCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.redis import Counters, RedisProbe, info_samples
from sentinel.probes.results import Outcome
from tests.conftest import free_port
from tests.probes.conftest import sample_values
from tests.services import unavailable

QUEUE = "sentinel-test:image-processing-queue"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.from_url(redis_url, decode_responses=True)
    try:
        await c.ping()
    except Exception as exc:
        await c.aclose()
        unavailable("Redis", type(exc).__name__)
    yield c
    keys = await c.keys("sentinel-test:*")
    if keys:
        await c.delete(*keys)
    await c.aclose()


@pytest.fixture
def url(redis_url: str) -> str:
    return redis_url


def check(url: str, **options: Any) -> RedisCheck:
    return RedisCheck.model_validate(
        {"type": "redis", "name": "cache", "url": url, "timeout": "2s", **options}
    )


async def run_once(ctx: ProbeContext, c: RedisCheck) -> Outcome:
    probe = RedisProbe(c, ctx)
    try:
        return await probe.run()
    finally:
        await probe.close()


async def test_queue_of_1001_items_is_reported(
    ctx: ProbeContext, client: aioredis.Redis, url: str
) -> None:
    """A list with 1,001 pushed items reports key_length{key=...} 1001, with PING and INFO figures."""
    for start in range(0, 1001, 100):
        await client.rpush(QUEUE, *[f"job-{i}" for i in range(start, min(start + 100, 1001))])
    outcome = await run_once(ctx, check(url, keys=[QUEUE]))
    assert outcome.ok, outcome.error
    got = sample_values(outcome)
    assert got[f"key_length{{key={QUEUE}}}"] == 1001
    assert got["used_memory_bytes"] > 0
    assert got["connected_clients"] >= 1
    assert "ping_seconds" in got
    assert got["role{role=master}"] == 1


async def test_every_collection_type_and_missing_keys(
    ctx: ProbeContext, client: aioredis.Redis, url: str
) -> None:
    """Lists, streams, sorted sets, sets and hashes report their length; a missing key is 0."""
    await client.xadd("sentinel-test:stream", {"a": "1"})
    await client.xadd("sentinel-test:stream", {"a": "2"})
    await client.zadd("sentinel-test:zset", {"x": 1, "y": 2, "z": 3})
    await client.sadd("sentinel-test:set", "p")
    await client.hset("sentinel-test:hash", mapping={"f1": "1", "f2": "2"})
    keys = [
        "sentinel-test:stream",
        "sentinel-test:zset",
        "sentinel-test:set",
        "sentinel-test:hash",
        "sentinel-test:none",
    ]
    outcome = await run_once(ctx, check(url, keys=keys))
    assert outcome.ok, outcome.error
    got = sample_values(outcome)
    assert [got[f"key_length{{key={k}}}"] for k in keys] == [2, 3, 1, 2, 0]


async def test_unsupported_key_type_says_so(
    ctx: ProbeContext, client: aioredis.Redis, url: str
) -> None:
    """A string key has no length to watch: the check fails naming the key and type."""
    await client.set("sentinel-test:plain", "v")
    outcome = await run_once(ctx, check(url, keys=["sentinel-test:plain"]))
    assert outcome.error == "key sentinel-test:plain: unsupported type string"


async def test_hit_ratio_over_the_interval(
    ctx: ProbeContext, client: aioredis.Redis, url: str, clock: FakeClock
) -> None:
    """The second run's hit ratio counts only lookups since the first: 3 hits, 1 miss -> 0.75."""
    await client.set("sentinel-test:k", "v")
    probe = RedisProbe(check(url), ctx)
    try:
        assert (await probe.run()).ok
        for _ in range(3):
            await client.get("sentinel-test:k")
        await client.get("sentinel-test:absent")
        await clock.advance(30)
        second = await probe.run()
    finally:
        await probe.close()
    got = sample_values(second)
    assert got["hit_ratio"] == 0.75
    assert got["evicted_keys_per_second"] == 0


def test_rates_and_restart_from_info() -> None:
    """Rates divide counter changes by elapsed time; a counter going back reads as a restart."""
    first = Counters(at=100.0, hits=10, misses=10, rejected=0, evicted=5)
    info = {
        "used_memory": 50,
        "maxmemory": 100,
        "keyspace_hits": 19,
        "keyspace_misses": 11,
        "rejected_connections": 3,
        "evicted_keys": 35,
        "role": "master",
        "connected_slaves": 1,
    }
    samples, _ = info_samples(info, first, now=130.0)
    got = {s.name: s.value for s in samples}
    assert got["memory_used_ratio"] == 0.5
    assert got["hit_ratio"] == 0.9
    assert got["rejected_connections_per_second"] == 0.1
    assert got["evicted_keys_per_second"] == 1.0
    restarted, _ = info_samples(
        {**info, "keyspace_hits": 1, "keyspace_misses": 3}, first, now=160.0
    )
    got = {s.name: s.value for s in restarted}
    assert got["hit_ratio"] == 0.25
    assert "evicted_keys_per_second" not in got


def test_info_figures_that_are_not_numbers_read_as_zero() -> None:
    """A look-alike server's INFO with words, infinities or huge numbers gives samples of 0
    for those figures, never a probe crash (a ValueError or OverflowError before)."""
    info = {
        "used_memory": "lots",
        "maxmemory": "inf",
        "connected_clients": "nan",
        "keyspace_hits": "1e400",
        "keyspace_misses": 4,
        "rejected_connections": "",
        "evicted_keys": True,
    }
    samples, counters = info_samples(info, None, now=1.0)
    got = {s.name: s.value for s in samples}
    assert got["used_memory_bytes"] == 0
    assert got["maxmemory_bytes"] == 0
    assert got["connected_clients"] == 0
    assert got["hit_ratio"] == 0.0
    assert (counters.hits, counters.misses, counters.evicted) == (0, 4, 0)


async def test_wrong_password_fails_without_the_password(
    ctx: ProbeContext, client: aioredis.Redis, url: str
) -> None:
    """An ACL user with a wrong password fails as 'authentication failed'; the password is nowhere."""
    acl = ("ACL", "SETUSER", "sentinel-test", "on", ">right-pass", "~*", "+@all")
    await client.execute_command(*acl)  # type: ignore[no-untyped-call]
    try:
        base = url.split("://", 1)[1]
        good = await run_once(ctx, check(url=f"redis://sentinel-test:right-pass@{base}"))
        assert good.ok, good.error
        bad = await run_once(ctx, check(url=f"redis://sentinel-test:wrong-pass-xyz@{base}"))
    finally:
        await client.execute_command("ACL", "DELUSER", "sentinel-test")  # type: ignore[no-untyped-call]
    assert bad.error == "authentication failed"
    assert "wrong-pass-xyz" not in repr(bad)


async def test_server_down_is_connection_refused(ctx: ProbeContext) -> None:
    """Nothing on the port: 'connection refused'."""
    outcome = await run_once(ctx, check(url=f"redis://127.0.0.1:{free_port()}/0"))
    assert outcome.error == "connection refused"
