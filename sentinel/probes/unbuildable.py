"""A check whose probe cannot be built from its config runs anyway, and fails.

``validate`` is meant to refuse every config a probe cannot use, but a probe
that still raises while it is built (a URL its client library rejects) must not
crash ``run`` or ``check``: the check fails on every run with a reason, so its
alert rules fire and an operator sees it. The reason names the error's type
only: its message may quote a URL that holds a password.
"""

from __future__ import annotations

from typing import Any

from sentinel.probes.base import Probe, ProbeContext
from sentinel.probes.registry import ProbeFactory
from sentinel.probes.results import Outcome


class Unbuildable:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def run(self) -> Outcome:
        return Outcome.failed(self.reason)

    async def close(self) -> None:
        return None


def build_probe(factory: ProbeFactory, check: Any, context: ProbeContext) -> Probe:
    """The probe for ``check``, or an :class:`Unbuildable` saying why there is none."""
    try:
        return factory(check, context)
    except Exception as exc:
        return Unbuildable(f"invalid check configuration ({type(exc).__name__})")
