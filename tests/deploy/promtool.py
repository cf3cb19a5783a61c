"""Paths of deploy/ and promtool, shared by the Prometheus, Grafana, metrics and parity tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.services import system_tool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def promtool() -> str:
    """promtool's path; without it the test fails (skips only with SENTINEL_ALLOW_SKIP=1)."""
    return system_tool("promtool", "prometheus")


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """promtool run from the repository root, its output kept for the assertion message."""
    return subprocess.run(
        [promtool(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
