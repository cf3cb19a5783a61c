"""deploy/compose.cluster.yaml: two sentinels on the trial's one PostgreSQL, each a
member with its own id, published on loopback, with the same mounted config."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import SecretStr

from sentinel.config.settings import Settings, settings_problems
from tests.deploy.promtool import DEPLOY
from tests.deploy.test_compose import environment, interpolate, services


def cluster() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((DEPLOY / "compose.cluster.yaml").read_text(encoding="utf-8"))
    found: dict[str, dict[str, Any]] = data["services"]
    return found


def test_two_members_share_the_trial_database() -> None:
    """Both sentinels name the trial's postgres with its password; distinct member ids."""
    override = cluster()
    assert set(override) == {"sentinel", "sentinel-2"}
    urls, ids = set(), set()
    for service in override.values():
        env = environment(service)
        urls.add(env["SENTINEL_STORAGE_URL"])
        ids.add(env["SENTINEL_MEMBER_ID"])
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert len(ids) == 2
    (url,) = urls
    parts = urlsplit(interpolate(url))
    assert (parts.scheme, parts.hostname, parts.port) == ("postgresql", "postgres", 5432)
    assert parts.password == environment(services()["postgres"])["POSTGRES_PASSWORD"]
    assert settings_problems(Settings(storage_url=SecretStr(url))) == []


def test_the_second_member_runs_the_first_ones_config_on_loopback() -> None:
    """Same image build and mounted config as `sentinel`; its port on 127.0.0.1 only."""
    second, first = cluster()["sentinel-2"], services()["sentinel"]
    assert second["build"] == first["build"]
    assert second["volumes"][0] == first["volumes"][0]
    assert all(str(p).startswith("127.0.0.1:") for p in second["ports"])
    assert environment(second)["SENTINEL_CONFIG"] == environment(first)["SENTINEL_CONFIG"]
