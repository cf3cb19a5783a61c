"""Paths of deploy/ and promtool, shared by the Prometheus and Grafana tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def promtool() -> str:
    """promtool's path; without it the test skips, or fails under SENTINEL_REQUIRE_SERVICES=1."""
    tool = shutil.which("promtool")
    if tool is None:
        message = "promtool not found: install Debian's prometheus package (.ci/run does)"
        if os.environ.get("SENTINEL_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return tool


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """promtool run from the repository root, its output kept for the assertion message."""
    return subprocess.run(
        [promtool(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
