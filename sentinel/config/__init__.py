"""Configuration: YAML models, loading, durations and cross-references."""

from sentinel.config.checks import Check, CheckBase, HttpCheck, TcpCheck
from sentinel.config.loader import ConfigError, load_config, parse_config, secret_values
from sentinel.config.models import Config, split_listen
from sentinel.config.units import format_duration, parse_duration

__all__ = [
    "Check",
    "CheckBase",
    "Config",
    "ConfigError",
    "HttpCheck",
    "TcpCheck",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "secret_values",
    "split_listen",
]
