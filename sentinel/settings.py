"""Process settings from the environment (``SENTINEL_*``), read once at start.

They override the config file where both speak: ``SENTINEL_LISTEN`` over
``server.listen``, ``SENTINEL_STORAGE_URL`` over ``storage.url``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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


def settings_problems(settings: Settings) -> list[str]:
    """What is wrong with the ``SENTINEL_*`` overrides, one line each, in the config's
    error style and without the values (a storage URL may hold a password). The file's
    own ``server.listen`` and ``storage.url`` are checked when it loads; these
    overrides replace them afterwards, so they need the same checks."""
    from sentinel.config.addresses import storage_url
    from sentinel.config.models import split_listen

    found = []
    if settings.listen is not None:
        try:
            split_listen(settings.listen)
        except ValueError:
            found.append("SENTINEL_LISTEN: expected host:port, e.g. 0.0.0.0:9464 or [::]:9464")
    if settings.storage_url is not None:
        try:
            storage_url(settings.storage_url.get_secret_value())
        except ValueError as exc:
            found.append(f"SENTINEL_STORAGE_URL: {exc}")
    return found
