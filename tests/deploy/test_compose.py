"""deploy/compose.yaml, checked offline (no Docker engine here; the docker client has no
compose plugin either): images pinned, every mounted file present, the services
wired to each other as the mounted configs expect, and sentinel's config valid."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr

from sentinel.config import load_config
from sentinel.config.settings import Settings, settings_problems
from tests.deploy.promtool import DEPLOY, ROOT

COMPOSE = DEPLOY / "compose.yaml"
SENTINEL_CONFIG = DEPLOY / "compose" / "sentinel.yaml"
# registry/name:tag with a version of at least major.minor (v2.53.0, 16.4, 7.4.0)
PINNED = re.compile(r"^[\w.\-/]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?(@sha256:[0-9a-f]{64})?$")
_COMPOSE_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default}, as it resolves with none of the variables set."""
    return _COMPOSE_VAR.sub(lambda m: m.group(2) or "", value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """(local path, container path) of each bind mount; named volumes are left out."""
    out = []
    for volume in service.get("volumes", []):
        source, target = (
            volume.split(":")[:2]
            if isinstance(volume, str)
            else (
                volume["source"],
                volume["target"],
            )
        )
        if source.startswith((".", "/")):
            out.append(((DEPLOY / source).resolve(), PurePosixPath(target)))
    return out


def mounted_at(service: str, target: str) -> Path:
    """The local file or directory a service sees at ``target``."""
    wanted = PurePosixPath(target)
    for source, where in bind_mounts(services()[service]):
        if wanted == where:
            return source
        if wanted.is_relative_to(where):
            return source.joinpath(*wanted.relative_to(where).parts)
    raise AssertionError(f"{service} mounts nothing at {target}")


@pytest.mark.parametrize("name", sorted(services()))
def test_every_image_is_pinned(name: str) -> None:
    """A pulled image names a version (at least major.minor), never `latest` or no tag."""
    service = services()[name]
    image = service.get("image")
    if "build" in service:
        assert image is None or not image.endswith(":latest"), image
        return
    assert image is not None, f"{name} has neither image nor build"
    assert not image.endswith(":latest")
    assert PINNED.match(image), f"{name}: image {image!r} is not pinned to a version"


def test_every_mounted_local_file_exists() -> None:
    """Each bind-mounted path exists under deploy/; each named volume is declared."""
    declared = set(compose().get("volumes") or {})
    for name, service in services().items():
        for local, _ in bind_mounts(service):
            assert local.exists(), f"{name} mounts {local}, which does not exist"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_sentinel_is_built_from_the_repository() -> None:
    """sentinel's image is built from the repository root with its Dockerfile."""
    build = services()["sentinel"]["build"]
    assert (DEPLOY / build["context"]).resolve() == ROOT
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert (ROOT / "Dockerfile").is_file()


def test_the_trial_watches_postgres_redis_and_sentinel_itself() -> None:
    """The compose runs postgres 16 and redis 7, and sentinel's config checks them and its /health."""
    svc = services()
    assert svc["postgres"]["image"].startswith("postgres:16.")
    assert svc["redis"]["image"].startswith("redis:7.")
    config = yaml.safe_load(SENTINEL_CONFIG.read_text(encoding="utf-8"))
    targets = {
        c["type"]: urlsplit(interpolate(c.get("dsn") or c.get("url") or ""))
        for c in config["checks"]
    }
    assert targets["postgres"].hostname == "postgres"
    assert targets["redis"].hostname == "redis"
    health = [c for c in config["checks"] if c.get("url", "").endswith("/health")]
    assert health
    assert urlsplit(health[0]["url"]).port == 9464
    assert config["channels"]["console"] == {"type": "console"}
    assert config["rules"]
    assert config["escalation"]


def test_sentinel_config_is_mounted_where_sentinel_reads_it() -> None:
    """SENTINEL_CONFIG names the path where deploy/compose/sentinel.yaml is mounted."""
    sentinel = services()["sentinel"]
    assert mounted_at("sentinel", environment(sentinel)["SENTINEL_CONFIG"]) == SENTINEL_CONFIG


def test_sentinel_config_validates_with_the_compose_environment() -> None:
    """load_config accepts deploy/compose/sentinel.yaml with the environment compose gives it."""
    env = environment(services()["sentinel"])
    config = load_config(SENTINEL_CONFIG, env)
    assert config.server.listen.endswith(":9464")
    assert {c.name for c in config.checks} >= {"sentinel-health", "postgres", "redis"}


def test_sentinel_validate_accepts_the_compose_config() -> None:
    """`sentinel validate` exits 0 on the compose config, given only the compose environment."""
    env = {"PATH": os.environ.get("PATH", ""), **environment(services()["sentinel"])}
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel", "validate", "-c", str(SENTINEL_CONFIG)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prometheus_gets_its_config_and_rules_and_scrapes_the_sentinel_service() -> None:
    """prometheus.yml and every rule file it names are mounted; its target is sentinel:9464."""
    config_path = "/etc/prometheus/prometheus.yml"
    assert f"--config.file={config_path}" in services()["prometheus"]["command"]
    local = mounted_at("prometheus", config_path)
    assert local == DEPLOY / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(local.read_text(encoding="utf-8"))
    for rule_file in config["rule_files"]:
        inside = PurePosixPath(config_path).parent / rule_file
        assert mounted_at("prometheus", str(inside)) == local.parent / rule_file
    (job,) = config["scrape_configs"]
    ((host_port,),) = [t["targets"] for t in job["static_configs"]]
    host, port = host_port.split(":")
    assert host in services()
    assert yaml.safe_load(SENTINEL_CONFIG.read_text())["server"]["listen"].endswith(f":{port}")


def test_grafana_provisions_the_prometheus_service_and_the_dashboard() -> None:
    """The datasource points at the prometheus service; the provider's path holds the dashboard."""
    provisioning = mounted_at("grafana", "/etc/grafana/provisioning")
    assert provisioning == DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "prometheus"
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus"
    assert url.hostname in services()
    assert f"127.0.0.1:{url.port}:{url.port}" in services()["prometheus"]["ports"]
    providers = yaml.safe_load((provisioning / "dashboards" / "sentinel.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    inside = PurePosixPath(provider["options"]["path"]) / "sentinel-dashboard.json"
    assert mounted_at("grafana", str(inside)) == DEPLOY / "grafana" / "sentinel-dashboard.json"
    home = environment(services()["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert PurePosixPath(home) == inside


def test_published_ports_are_on_loopback_only() -> None:
    """A laptop trial does not expose its default passwords to the network."""
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_postgres_variant_points_sentinel_at_the_trial_database() -> None:
    """deploy/compose.postgres.yaml changes only sentinel: its storage URL names the trial's
    postgres service with that service's password, waits for it, and is a URL sentinel
    accepts (settings_problems is what `run` checks)."""
    override = yaml.safe_load((DEPLOY / "compose.postgres.yaml").read_text(encoding="utf-8"))
    assert set(override["services"]) == {"sentinel"}
    sentinel = override["services"]["sentinel"]
    assert sentinel["depends_on"]["postgres"] == {"condition": "service_healthy"}
    url = interpolate(sentinel["environment"]["SENTINEL_STORAGE_URL"])
    parts = urlsplit(url)
    assert parts.scheme == "postgresql"
    assert (parts.hostname, parts.port) == ("postgres", 5432)
    assert parts.password == environment(services()["postgres"])["POSTGRES_PASSWORD"]
    settings = Settings(storage_url=SecretStr(url))
    assert settings_problems(settings) == []
