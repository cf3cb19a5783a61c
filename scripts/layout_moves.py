"""Rewrite imports of the modules issue 14 moved (old dotted path -> new), in place.

For code written against the old layout (a branch merged after the move):
``python scripts/layout_moves.py sentinel tests bench`` rewrites ``from X import``
and ``import X`` of each moved module, and the ``sentinel.cli:main`` entry point.
Names that moved between modules (``apply_settings``/``load`` to
``sentinel.config.settings``, ``report_command`` to ``sentinel.cli.report``,
``registry`` to ``sentinel.probes.registry``, ``FOR_MARGIN``/``RULE_TICK`` to
``sentinel.app.alerts``, the web-facing daemon methods to ``sentinel.app.facade``)
are left for ruff and mypy to point at. It prints each file it changed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MOVES = {
    "sentinel.scheduler": "sentinel.probes.scheduler",
    "sentinel.runner": "sentinel.probes.runner",
    "sentinel.results": "sentinel.probes.results",
    "sentinel.heartbeats": "sentinel.probes.heartbeats",
    "sentinel.series": "sentinel.rules.series",
    "sentinel.silences": "sentinel.routing.silences",
    "sentinel.rules.routing": "sentinel.routing.quiet",
    "sentinel.incidents": "sentinel.escalation.incidents",
    "sentinel.report_schedule": "sentinel.reports.schedule",
    "sentinel.scenario": "sentinel.simulate.scenario",
    "sentinel.daemon": "sentinel.app.daemon",
    "sentinel.watchdog": "sentinel.app.watchdog",
    "sentinel.settings": "sentinel.config.settings",
    "sentinel.views": "sentinel.web.views",
    "sentinel.remote_cli": "sentinel.cli.remote",
    "sentinel.healthcheck": "sentinel.cli.healthcheck",
    "sentinel.escalation.oncall_cli": "sentinel.cli.oncall",
}
# Old modules that became packages: only exact imports of them are rewritten.
EXACT = {
    "sentinel.cli": "sentinel.cli.main",
    "sentinel.simulate": "sentinel.simulate.replay",
}


def rewrite(text: str) -> str:
    for old, new in MOVES.items():
        o = re.escape(old)
        text = re.sub(rf"(\bfrom\s+){o}(?=[\s.])", rf"\g<1>{new}", text)
        text = re.sub(rf"^(\s*import\s+){o}\b", rf"\g<1>{new}", text, flags=re.M)
    for old, new in EXACT.items():
        o = re.escape(old)
        text = re.sub(rf"(\bfrom\s+){o}(?=\s+import\b)", rf"\g<1>{new}", text)
        text = re.sub(rf'"{o}:main"', f'"{new}:main"', text)
    text = re.sub(
        r"^(\s*)from sentinel import views$",
        r"\1from sentinel.web import views",
        text,
        flags=re.M,
    )
    return text


def main(paths: list[str]) -> int:
    for root in paths:
        files = [Path(root)] if Path(root).is_file() else sorted(Path(root).rglob("*.py"))
        for path in files:
            text = path.read_text(encoding="utf-8")
            new = rewrite(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(path)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
