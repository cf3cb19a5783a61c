"""The ``sentinel`` console script: ``healthcheck`` without the daemon's imports.

``sentinel healthcheck`` is the container's HEALTHCHECK (``--timeout=5s``), run
every 30 s. Importing :mod:`sentinel.cli.main` loads the whole daemon (web app,
store, notifiers, cluster) and takes seconds on a loaded host, enough to miss
that timeout; so ``healthcheck`` is dispatched here, importing only
:mod:`sentinel.cli.healthcheck`, and every other command goes to ``main``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sentinel.cli.healthcheck import command as healthcheck_command


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["healthcheck"]:
        return healthcheck_command(args[1:])
    # Lazy on purpose (tests/test_architecture.py LAZY): only the other commands pay for it.
    from sentinel.cli.main import main as full

    return full(args)
