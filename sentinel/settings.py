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
