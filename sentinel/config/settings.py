"""Process settings from the environment (``SENTINEL_*``), read once at start.

They override the config file where both speak: ``SENTINEL_LISTEN`` over
``server.listen``, ``SENTINEL_STORAGE_URL`` over ``storage.url``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentinel.config.addresses import storage_url
from sentinel.config.loader import ConfigError, load_config
from sentinel.config.models import Config, split_listen


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENTINEL_", extra="ignore")

    config: str = "/etc/sentinel/sentinel.yaml"
    listen: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    storage_url: SecretStr | None = None
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # open a store that `sentinel store copy` marked as moved (`run --force`)
    force_store: bool = False
    # cluster (PostgreSQL store only): this member's id (default hostname-pid-random),
    # its location label (checks' `locations:` name them), and its lease in seconds
    member_id: str | None = None
    location: str = "default"
    cluster_lease: float = 15.0
    # TEST ONLY: shift this process's clock by so many seconds (clock-skew tests; the
    # cluster must follow the database's clock whatever the host's says)
    test_clock_offset: float = 0.0
    # the local address outbound probes (HTTP, TCP, TLS) connect from, for multi-homed
    # hosts and for the quorum test's 127.0.0.2 / 127.0.0.3 (docs/probes.md)
    probe_source_address: str | None = None


def settings_problems(settings: Settings) -> list[str]:
    """What is wrong with the ``SENTINEL_*`` overrides, one line each, in the config's
    error style and without the values (a storage URL may hold a password). The file's
    own ``server.listen`` and ``storage.url`` are checked when it loads; these
    overrides replace them afterwards, so they need the same checks."""
    found = []
    if settings.listen is not None:
        try:
            split_listen(settings.listen)
        except ValueError:
            found.append("SENTINEL_LISTEN: expected host:port, e.g. 0.0.0.0:9464 or [::]:9464")
    if settings.probe_source_address is not None:
        try:
            ipaddress.ip_address(settings.probe_source_address)
        except ValueError:
            found.append(
                "SENTINEL_PROBE_SOURCE_ADDRESS: expected an IP address of this host, e.g. 10.0.0.5"
            )
    if settings.storage_url is not None:
        try:
            storage_url(settings.storage_url.get_secret_value())
        except ValueError as exc:
            found.append(f"SENTINEL_STORAGE_URL: {exc}")
    return found


def apply_settings(config: Config, settings: Settings) -> Config:
    """Environment settings win over the file where both speak."""
    problems = settings_problems(settings)
    if problems:
        raise ConfigError(problems)
    server, storage = config.server, config.storage
    if settings.listen:
        server = server.model_copy(update={"listen": settings.listen})
    if settings.storage_url is not None:
        storage = storage.model_copy(update={"url": settings.storage_url})
    return config.model_copy(update={"server": server, "storage": storage})


def load(settings: Settings, env: Mapping[str, str]) -> Config:
    """The config file the settings name, with the settings applied over it."""
    return apply_settings(load_config(settings.config, env), settings)
