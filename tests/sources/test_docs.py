"""docs/sources.md's snippets are what they claim: the sources: block is a valid
config, the Alertmanager block passes amtool, the scenario replays' syntax, and the
Events v2 example is an event sentinel takes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from sentinel.config import Config
from sentinel.simulate.scenario import parse_scenario
from sentinel.sources import events
from tests.services import system_tool

DOC = Path(__file__).resolve().parents[2] / "docs" / "sources.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def block(kind: str, starts: str) -> str:
    return next(b for b in blocks(kind) if b.lstrip().startswith(starts))


def test_the_sources_block_is_a_valid_config() -> None:
    data = yaml.safe_load(block("yaml", "sources:"))
    config = Config.model_validate(data)
    assert [s.type for s in config.sources] == ["alertmanager", "grafana", "events"]


def test_the_alertmanager_block_passes_amtool(tmp_path: Path) -> None:
    amtool = system_tool("amtool", "prometheus-alertmanager")
    path = tmp_path / "alertmanager.yml"
    path.write_text(block("yaml", "route:"))
    proc = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    hook = yaml.safe_load(path.read_text())["receivers"][0]["webhook_configs"][0]
    assert hook["url"].endswith("/api/v1/sources/alertmanager/prometheus")
    assert hook["send_resolved"] is True


def test_the_scenario_block_parses() -> None:
    scenario = parse_scenario(block("yaml", "until:"))
    assert [e.source for e in scenario.events if e.alert] == ["prometheus", "prometheus"]


def test_the_curl_event_is_taken() -> None:
    text = block("sh", "curl")
    body = text.split("-d '", 1)[1].split("'\n#", 1)[0]
    body = body.replace('"\'"$SENTRY_ROUTING_KEY"\'"', '"key"')
    parsed = events.parse(json.dumps(json.loads(body)).encode())
    assert parsed.inbound.key == "disk-db-1"
    assert parsed.routing_key == "key"
