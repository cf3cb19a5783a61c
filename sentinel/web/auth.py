"""Who a request is: the bearer token, and a limit on wrong guesses per client address.

    Authorization: Bearer <server.api_token>

Writes (and /api/v1/config) need the token: 403 when none is configured, 401 when
it is missing or wrong. Reads that can show contact details (addresses, phone
numbers) show them only with the token; without an ``Authorization`` header they
answer the contact-free view, and a wrong bearer token is a 401 there too (else
the two answers would tell a guesser when a guess was right). A token in the
query string (``?token=``, ``?access_token=``) is never read. A wrong heartbeat
key (``/ping/...``) counts in the same bucket.

Every wrong token costs its client address one token of a bucket of
``server.auth_failures.burst`` (10) that refills one a ``refill`` (1s). An empty bucket answers
429 with ``Retry-After`` to every request that brings a token, right or wrong, so
guessing goes no faster than one a ``refill``. The address is the TCP peer (an IPv6
client by its /64), or, when the peer is one of ``server.trusted_proxies``, the
client its ``X-Forwarded-For`` names (see docs/security.md). The table keeps at
most ``MAX_CLIENTS`` addresses, least recently failed dropped first.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from aiohttp import web

from sentinel.clock import Clock
from sentinel.config.models import Config

BURST = 10.0
RATE = 1.0  # wrong tokens a second, once the burst is spent
MAX_CLIENTS = 10_000


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float  # the monotonic time ``tokens`` was counted


def level(bucket: Bucket | None, now: float, burst: float = BURST, rate: float = RATE) -> float:
    """The tokens a bucket holds at ``now`` (a new client: a full bucket)."""
    if bucket is None:
        return burst
    return min(burst, bucket.tokens + max(now - bucket.at, 0.0) * rate)


def wait(bucket: Bucket | None, now: float, burst: float = BURST, rate: float = RATE) -> float:
    """Seconds until the client may try a token again; 0 when it may now."""
    have = level(bucket, now, burst, rate)
    return 0.0 if have >= 1.0 else (1.0 - have) / rate


def spend(bucket: Bucket | None, now: float, burst: float = BURST, rate: float = RATE) -> Bucket:
    """The bucket after one wrong token."""
    return Bucket(max(level(bucket, now, burst, rate) - 1.0, 0.0), now)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _within(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any((mapped or ip) in net for net in trusted)


def client_address(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The client's address: the TCP peer, unless the peer is a trusted proxy; then
    the rightmost ``X-Forwarded-For`` entry that is not a trusted proxy (each proxy
    appends the address it saw, so entries to the left of it are the client's word)."""
    if not peer or not trusted or not _within(peer, trusted):
        return peer or ""
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


def client_key(remote: str | None) -> str:
    """The peer address a bucket belongs to; an IPv6 client by its /64 (one host
    usually holds the whole /64)."""
    if not remote:
        return "unknown"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class FailureLimiter:
    """Buckets of wrong tokens per client address, bounded to ``max_clients``; the
    burst and rate are read at each decision (a reload may change them)."""

    def __init__(
        self,
        clock: Clock,
        limits: Callable[[], tuple[float, float]] = lambda: (BURST, RATE),
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self._clock = clock
        self._limits = limits
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def blocked_for(self, key: str) -> float:
        """Seconds this client must wait before a token is looked at; 0: go ahead."""
        return wait(self._buckets.get(key), self._clock.monotonic(), *self._limits())

    def failed(self, key: str) -> None:
        now = self._clock.monotonic()
        self._buckets[key] = spend(self._buckets.get(key), now, *self._limits())
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)


Verdict = Literal["anonymous", "authenticated"]


class TokenSource(Protocol):
    @property
    def config(self) -> Config: ...

    def api_token(self) -> str | None: ...


def configured_limits(source: TokenSource) -> Callable[[], tuple[float, float]]:
    """(burst, rate) from ``server.auth_failures`` of the running config."""

    def limits() -> tuple[float, float]:
        failures = source.config.server.auth_failures
        return float(failures.burst), 1.0 / failures.refill

    return limits


class Gate:
    """The token check every handler uses: :meth:`refuse` for writes, :meth:`reader`
    for reads that may show contact details."""

    def __init__(self, token: TokenSource, limiter: FailureLimiter) -> None:
        self._token = token
        self.limiter = limiter

    def _check(self, request: web.Request) -> Verdict | web.Response:
        given = request.headers.get("Authorization", "")
        token = self._token.api_token()
        if token is None or given[:7].lower() != "bearer ":
            return "anonymous"  # no token to guess, or another scheme (a proxy's Basic)
        key = self.client(request)
        limited = self.limited(key)
        if limited is not None:
            return limited
        if hmac.compare_digest(given[7:].encode(), token.encode()):
            return "authenticated"
        self.limiter.failed(key)
        return _refused("missing or wrong bearer token", 401)

    def client(self, request: web.Request) -> str:
        """The bucket a request counts in (see :func:`client_address`)."""
        trusted = networks(tuple(self._token.config.server.trusted_proxies))
        forwarded = request.headers.getall("X-Forwarded-For", [])
        return client_key(client_address(request.remote, forwarded, trusted))

    def limited(self, key: str) -> web.Response | None:
        """The 429 for a client whose bucket is empty, or None."""
        delay = self.limiter.blocked_for(key)
        if delay <= 0:
            return None
        return _refused(
            "too many wrong tokens from this address; retry later",
            429,
            {"Retry-After": str(max(math.ceil(delay), 1))},
        )

    def refuse(self, request: web.Request) -> web.Response | None:
        """None when the request brings the right token; else the answer that refuses it."""
        if self._token.api_token() is None:
            return _refused("set server.api_token to enable writes", 403)
        verdict = self._check(request)
        if verdict == "anonymous":
            return _refused("missing or wrong bearer token", 401)
        return None if verdict == "authenticated" else verdict

    def reader(self, request: web.Request) -> bool | web.Response:
        """True: show contact details; False: the contact-free view; a Response: refused
        (a wrong token, or too many of them)."""
        verdict = self._check(request)
        if isinstance(verdict, web.Response):
            return verdict
        return verdict == "authenticated"


def _refused(message: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)
