"""Redis probe: PING latency, INFO figures, and the length of chosen keys.

One client per check, kept between runs (its pool holds one connection).
Rates (rejected connections, evicted keys, hit ratio) come from the change
since the previous run, measured on the Clock; the first run reports the
lifetime hit ratio and no rates.
"""

from __future__ import annotations

import errno
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis import exceptions as rexc

from sentinel.clock import Clock
from sentinel.config.checks import RedisCheck
from sentinel.config.units import format_duration
from sentinel.probes.base import ProbeContext
from sentinel.probes.results import Outcome, Sample

LENGTH_COMMANDS = {
    "list": "LLEN",
    "stream": "XLEN",
    "zset": "ZCARD",
    "set": "SCARD",
    "hash": "HLEN",
}


@dataclass(frozen=True, slots=True)
class Counters:
    at: float
    hits: int
    misses: int
    rejected: int
    evicted: int


def info_samples(
    info: dict[str, object], previous: Counters | None, now: float
) -> tuple[list[Sample], Counters]:
    """Samples from one INFO answer; rates against the previous run's counters."""

    def num(key: str) -> float:
        """A figure of INFO; 0 for anything that is not a finite number (a proxy or a
        look-alike server can answer anything)."""
        value = info.get(key, 0)
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            return 0.0
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return 0.0
        return number if math.isfinite(number) else 0.0

    used, maxmemory = num("used_memory"), num("maxmemory")
    out = [
        Sample("used_memory_bytes", used),
        Sample("maxmemory_bytes", maxmemory),
        Sample("connected_clients", num("connected_clients")),
        Sample("blocked_clients", num("blocked_clients")),
    ]
    if maxmemory > 0:
        out.append(Sample("memory_used_ratio", used / maxmemory))
    counters = Counters(
        now,
        int(num("keyspace_hits")),
        int(num("keyspace_misses")),
        int(num("rejected_connections")),
        int(num("evicted_keys")),
    )
    if previous is None or counters.hits < previous.hits or counters.misses < previous.misses:
        lookups = counters.hits + counters.misses  # first run, or the server restarted
        if lookups:
            out.append(Sample("hit_ratio", counters.hits / lookups))
    else:
        hits, misses = counters.hits - previous.hits, counters.misses - previous.misses
        if hits + misses:
            out.append(Sample("hit_ratio", hits / (hits + misses)))
        elapsed = now - previous.at
        if elapsed > 0:
            rejected = counters.rejected - previous.rejected
            evicted = counters.evicted - previous.evicted
            if rejected >= 0 and evicted >= 0:
                out.append(Sample("rejected_connections_per_second", rejected / elapsed))
                out.append(Sample("evicted_keys_per_second", evicted / elapsed))
    role = str(info.get("role", "unknown"))
    out.append(Sample("role", 1.0, (("role", role),)))
    if role == "slave":
        out.append(Sample("master_link_up", 1.0 if info.get("master_link_status") == "up" else 0.0))
    else:
        out.append(Sample("connected_replicas", num("connected_slaves")))
    return out, counters


class RedisProbe:
    def __init__(self, check: RedisCheck, ctx: ProbeContext) -> None:
        self._clock: Clock = ctx.clock
        self._keys = list(check.keys)
        self._timeout_reason = f"timeout after {format_duration(check.timeout)}"
        self._client = aioredis.from_url(
            check.url.get_secret_value(),
            socket_timeout=check.timeout,
            socket_connect_timeout=check.timeout,
            max_connections=2,
            decode_responses=True,
            client_name="sentinel",
        )
        self._previous: Counters | None = None

    async def run(self) -> Outcome:
        samples: list[Sample] = []
        try:
            start = self._clock.monotonic()
            await self._client.ping()
            samples.append(Sample("ping_seconds", self._clock.monotonic() - start))
            info = await self._client.info()
            found, self._previous = info_samples(info, self._previous, self._clock.monotonic())
            samples.extend(found)
            problem = await self._key_lengths(samples)
        except rexc.AuthenticationError:
            return Outcome.failed("authentication failed")
        except rexc.ResponseError as exc:
            text = str(exc)
            if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
                return Outcome.failed(
                    "authentication failed" if "PASS" in text else "not permitted"
                )
            return Outcome.failed(f"redis error: {text.split(' ', 1)[0]}", tuple(samples))
        except rexc.TimeoutError:
            return Outcome.failed(self._timeout_reason, tuple(samples))
        except rexc.ConnectionError as exc:
            return Outcome.failed(_connection_reason(exc), tuple(samples))
        except rexc.RedisError as exc:
            return Outcome.failed(f"redis error: {type(exc).__name__}", tuple(samples))
        if problem:
            return Outcome.failed(problem, tuple(samples))
        return Outcome(ok=True, samples=tuple(samples))

    async def _key_lengths(self, samples: list[Sample]) -> str | None:
        if not self._keys:
            return None
        async with self._client.pipeline(transaction=False) as pipe:
            for key in self._keys:
                pipe.type(key)
            types = await pipe.execute()
        async with self._client.pipeline(transaction=False) as pipe:
            measured = []
            for key, kind in zip(self._keys, types, strict=True):
                if kind == "none":
                    samples.append(Sample("key_length", 0.0, (("key", key),)))  # an empty queue
                elif kind in LENGTH_COMMANDS:
                    pipe.execute_command(LENGTH_COMMANDS[kind], key)
                    measured.append(key)
                else:
                    return f"key {key}: unsupported type {kind}"
            lengths = await pipe.execute() if measured else []
        for key, length in zip(measured, lengths, strict=True):
            samples.append(Sample("key_length", float(length), (("key", key),)))
        return None

    async def close(self) -> None:
        await self._client.aclose()


def _connection_reason(exc: BaseException) -> str:
    text = str(exc).lower()
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
        return "connection refused"
    if "connection refused" in text or "111" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "dns: name not found"
    if "authentication" in text or "invalid username-password" in text:
        return "authentication failed"
    return "connection error"
