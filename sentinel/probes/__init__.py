"""Probes: one module per probe type (``registry`` lists them), the scheduler that
times their runs, the runner that turns a run into a :class:`~sentinel.probes.results.Result`,
and the heartbeat book pushed jobs write to."""

from __future__ import annotations

from sentinel.probes.base import Probe, ProbeContext

__all__ = ["Probe", "ProbeContext"]
