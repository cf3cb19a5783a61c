"""Probe types, one module each, in a plain registry keyed by the config ``type``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentinel.probes.base import Probe, ProbeContext

ProbeFactory = Callable[[Any, ProbeContext], Probe]


def registry() -> dict[str, ProbeFactory]:
    """Config ``type`` -> probe factory. Types listed in the config but absent here
    are accepted by ``validate`` and reported as unsupported by ``run``."""
    from sentinel.probes.heartbeat import HeartbeatProbe
    from sentinel.probes.http import HttpProbe
    from sentinel.probes.postgres import PostgresProbe
    from sentinel.probes.prometheus import PrometheusProbe
    from sentinel.probes.redis import RedisProbe
    from sentinel.probes.tcp import TcpProbe
    from sentinel.probes.tls import TlsProbe

    return {
        "heartbeat": HeartbeatProbe,
        "http": HttpProbe,
        "postgres": PostgresProbe,
        "prometheus": PrometheusProbe,
        "redis": RedisProbe,
        "tcp": TcpProbe,
        "tls": TlsProbe,
    }


__all__ = ["Probe", "ProbeContext", "ProbeFactory", "registry"]
