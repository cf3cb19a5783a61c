"""``sentinel simulate``: replay a scenario file and print the timeline."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sentinel.config import Config
from sentinel.simulate.replay import simulate
from sentinel.simulate.scenario import ScenarioError, load_scenario


def simulate_command(config: Config, scenario: str) -> int:
    try:
        plan = load_scenario(Path(scenario))
    except ScenarioError as exc:
        print(f"{scenario}: {exc}", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(simulate(config, plan))
    except ScenarioError as exc:
        print(f"{scenario}: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0
