"""The SENTINEL_* overrides get the checks the file's own values get."""

from __future__ import annotations

import pytest

from sentinel.config.settings import Settings, settings_problems


def test_valid_overrides_have_no_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_LISTEN", "[::]:9464")
    monkeypatch.setenv("SENTINEL_STORAGE_URL", "sqlite:///var/lib/sentinel/x.db")
    assert settings_problems(Settings()) == []


def test_bad_overrides_are_one_line_each_without_the_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTINEL_LISTEN", "everywhere")
    monkeypatch.setenv("SENTINEL_STORAGE_URL", "postgresql://u:hunter2@db:notaport/sentinel")
    assert settings_problems(Settings()) == [
        "SENTINEL_LISTEN: expected host:port, e.g. 0.0.0.0:9464 or [::]:9464",
        "SENTINEL_STORAGE_URL: the port must be a number from 1 to 65535",
    ]


def test_probe_source_address_must_be_an_ip_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """SENTINEL_PROBE_SOURCE_ADDRESS: an address, not a name; the value is not echoed."""
    monkeypatch.setenv("SENTINEL_PROBE_SOURCE_ADDRESS", "127.0.0.2")
    assert settings_problems(Settings()) == []
    monkeypatch.setenv("SENTINEL_PROBE_SOURCE_ADDRESS", "eu-west-gateway")
    assert settings_problems(Settings()) == [
        "SENTINEL_PROBE_SOURCE_ADDRESS: expected an IP address of this host, e.g. 10.0.0.5"
    ]
