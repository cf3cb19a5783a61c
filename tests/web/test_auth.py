"""The wrong-token limiter's pure decisions and its table, on a fake clock."""

from __future__ import annotations

import pytest

from sentinel.clock import FakeClock
from sentinel.config import ConfigError, parse_config
from sentinel.web.auth import (
    BURST,
    Bucket,
    FailureLimiter,
    client_address,
    client_key,
    level,
    networks,
    spend,
    wait,
)


def test_a_new_client_has_a_full_bucket_and_each_wrong_token_costs_one() -> None:
    assert level(None, 5.0) == BURST
    assert wait(None, 5.0) == 0.0
    b = spend(None, 5.0)
    assert b == Bucket(BURST - 1, 5.0)
    assert level(b, 5.5) == BURST - 0.5  # refills at one a second
    assert level(b, 500.0) == BURST  # never above the burst
    assert level(Bucket(0.0, 10.0), 9.0) == 0.0  # a clock read earlier never adds


async def test_ten_wrong_tokens_then_one_a_second() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(clock)
    for _ in range(10):
        assert limiter.blocked_for("10.0.0.1") == 0.0
        limiter.failed("10.0.0.1")
    assert limiter.blocked_for("10.0.0.1") == 1.0
    await clock.advance(0.25)
    assert limiter.blocked_for("10.0.0.1") == 0.75
    assert limiter.blocked_for("10.0.0.2") == 0.0  # another address has its own bucket
    await clock.advance(0.75)
    assert limiter.blocked_for("10.0.0.1") == 0.0
    limiter.failed("10.0.0.1")
    assert limiter.blocked_for("10.0.0.1") == 1.0
    await clock.advance(3600)
    assert limiter.blocked_for("10.0.0.1") == 0.0


async def test_the_table_keeps_at_most_max_clients_dropping_the_least_recent() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(clock, lambda: (1.0, 1.0), max_clients=3)
    for n in range(1000):
        limiter.failed(f"10.0.{n // 256}.{n % 256}")
        await clock.advance(0.001)
    assert len(limiter) == 3
    assert limiter.blocked_for("10.0.3.231") > 0  # the latest are kept
    assert limiter.blocked_for("10.0.0.0") == 0.0  # the oldest went first


def test_client_key_is_the_peer_address_and_an_ipv6_client_its_64() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key(None) == client_key("") == "unknown"


def test_forwarded_for_counts_only_from_a_trusted_proxy() -> None:
    proxies = networks(("10.0.0.0/8", "2001:db8::1"))
    xff = ["198.51.100.9, 203.0.113.5", "10.1.1.1"]
    assert client_address("10.0.0.2", xff, proxies) == "203.0.113.5"  # rightmost untrusted
    assert client_address("::ffff:10.0.0.2", xff, proxies) == "203.0.113.5"
    assert client_address("2001:db8::1", ["203.0.113.7"], proxies) == "203.0.113.7"
    assert client_address("192.0.2.1", xff, proxies) == "192.0.2.1"  # not a proxy: its word is void
    assert client_address("10.0.0.2", xff, ()) == "10.0.0.2"  # no proxies configured
    assert client_address("10.0.0.2", [], proxies) == "10.0.0.2"
    assert client_address("10.0.0.2", ["10.9.9.9, 10.8.8.8"], proxies) == "10.9.9.9"
    assert client_address("10.0.0.2", ["x" * 500], proxies) == "x" * 64


def test_a_trusted_proxy_that_is_no_address_is_refused_with_its_line() -> None:
    text = 'server:\n  trusted_proxies: ["10.0.0.0/8", "proxy.internal"]\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "s.yaml", {})
    assert caught.value.problems == [
        "s.yaml:2: server.trusted_proxies[1]: 'proxy.internal' is not an IP address or network (e.g. 10.0.0.0/8)"
    ]
