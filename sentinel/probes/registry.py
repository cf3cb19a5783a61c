"""Probe types in a plain registry keyed by the config ``type``.

Only the daemon and ``sentinel check`` import this module, so the drivers
(redis, asyncpg) load there and not with every import of :mod:`sentinel.probes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentinel.probes.base import Probe, ProbeContext
from sentinel.probes.heartbeat import HeartbeatProbe
from sentinel.probes.http import HttpProbe
from sentinel.probes.postgres import PostgresProbe
from sentinel.probes.prometheus import PrometheusProbe
from sentinel.probes.redis import RedisProbe
from sentinel.probes.tcp import TcpProbe
from sentinel.probes.tls import TlsProbe

ProbeFactory = Callable[[Any, ProbeContext], Probe]


def registry() -> dict[str, ProbeFactory]:
    """Config ``type`` -> probe factory. Types listed in the config but absent here
    are accepted by ``validate`` and reported as unsupported by ``run``."""
    return {
        "heartbeat": HeartbeatProbe,
        "http": HttpProbe,
        "postgres": PostgresProbe,
        "prometheus": PrometheusProbe,
        "redis": RedisProbe,
        "tcp": TcpProbe,
        "tls": TlsProbe,
    }
