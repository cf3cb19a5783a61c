"""Checks armed from the config: a probe per check whose type this build knows; an
unchanged check keeps its probe (and its pooled connections) across a reload; the
probes a reload retires are closed.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from sentinel.config import Config
from sentinel.metrics import Metrics
from sentinel.probes.base import ProbeContext
from sentinel.probes.registry import registry
from sentinel.probes.runner import Armed
from sentinel.probes.unbuildable import Unbuildable, build_probe

log = structlog.get_logger("sentinel.daemon")


def arm(
    config: Config, previous: dict[str, Armed], context: ProbeContext
) -> tuple[dict[str, Armed], dict[str, str]]:
    """The armed checks, and the unsupported ones (name -> type)."""
    factories = registry()
    armed: dict[str, Armed] = {}
    unsupported: dict[str, str] = {}
    for check in config.checks:
        kept = previous.get(check.name)
        if kept is not None and kept.check == check:
            armed[check.name] = kept  # unchanged: keep its probe and pooled connections
            continue
        factory = factories.get(check.type)
        if factory is None:
            unsupported[check.name] = check.type
            continue
        probe = build_probe(factory, check, context)
        if isinstance(probe, Unbuildable):
            log.error("probe_unbuildable", check=check.name, reason=probe.reason)
        armed[check.name] = Armed(check, check.type, probe)
    return armed, unsupported


def count_configured(
    metrics: Metrics, config: Config, armed: dict[str, Armed], unsupported: dict[str, str]
) -> None:
    """``checks_configured`` by type and support; a warning per unsupported check."""
    metrics.checks_configured.clear()
    for check in config.checks:
        supported = "true" if check.name in armed else "false"
        metrics.checks_configured.labels(check.type, supported).inc()
    for name, kind in unsupported.items():
        log.warning("probe_type_unavailable", check=name, type=kind)


async def close_probes(armed: Iterable[Armed]) -> None:
    for a in list(armed):
        try:
            await a.probe.close()
        except Exception as exc:
            log.warning("probe_close_failed", check=a.check.name, error=type(exc).__name__)
