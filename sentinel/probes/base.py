"""The Probe protocol: what every probe type implements.

A probe is built once per check from its config and reused for every run. It
must never raise into the scheduler: every failure becomes
``Outcome(ok=False, error=<short reason>)``. The scheduler adds ``up`` and
``duration_seconds`` and enforces the check's timeout around ``run()``.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp

from sentinel.clock import Clock
from sentinel.probes.heartbeats import HeartbeatBook
from sentinel.probes.results import Outcome


class Probe(Protocol):
    async def run(self) -> Outcome: ...

    async def close(self) -> None: ...


class ProbeContext:
    """Shared resources that probes borrow: the clock, pooled HTTP sessions, and the
    heartbeat book that /ping writes and heartbeat probes read.

    Without a book (``sentinel check``), heartbeats are watched from the moment
    the context is made: nothing has pinged this process, and its grace starts now.
    """

    def __init__(
        self,
        clock: Clock,
        http_sessions: HttpSessions | None = None,
        heartbeats: HeartbeatBook | None = None,
        source_address: str | None = None,
    ) -> None:
        self.clock = clock
        # SENTINEL_PROBE_SOURCE_ADDRESS: outbound probe connections start from this
        # local address (a multi-homed host, or one loopback address per location in
        # the quorum test); None lets the kernel choose.
        self.source_address = source_address
        self.http_sessions = (
            http_sessions if http_sessions is not None else HttpSessions(source=source_address)
        )
        self.heartbeats = heartbeats if heartbeats is not None else HeartbeatBook(clock.now())

    async def close(self) -> None:
        await self.http_sessions.close()


class HttpSessions:
    """One keep-alive aiohttp session shared by every HTTP probe.

    aiohttp's connector pools connections per (host, port, TLS settings), so
    checks of the same target reuse connections. Probes that ask for a fresh
    connection each time get their own session with ``force_close``.
    """

    def __init__(self, limit: int = 0, source: str | None = None) -> None:
        self._limit = limit
        self.local_addr = None if source is None else (source, 0)
        self._shared: aiohttp.ClientSession | None = None

    def shared(self) -> aiohttp.ClientSession:
        if self._shared is None or self._shared.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit, ttl_dns_cache=60, local_addr=self.local_addr
            )
            self._shared = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, trust_env=False
            )
        return self._shared

    async def close(self) -> None:
        if self._shared is not None and not self._shared.closed:
            await self._shared.close()
