"""HTTP probe against real local servers: every expectation and every failure reason."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sentinel.config import HttpCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.http import HttpProbe
from sentinel.probes.results import Outcome
from tests.probes.chains import make_chain
from tests.probes.conftest import BIG, NOW, Server, Tls, serve


def http_check(url: str, **options: Any) -> HttpCheck:
    return HttpCheck.model_validate(
        {"type": "http", "name": "t", "url": url, "timeout": "2s", **options}
    )


async def run(ctx: ProbeContext, url: str, **options: Any) -> Outcome:
    probe = HttpProbe(http_check(url, **options), ctx)
    try:
        return await probe.run()
    finally:
        await probe.close()


def samples(outcome: Outcome) -> dict[str, float]:
    return {s.name: s.value for s in outcome.samples}


async def test_healthy_endpoint_passes_with_samples(ctx: ProbeContext, server: Server) -> None:
    """A 200 JSON answer passes and reports status_code and content_length."""
    outcome = await run(ctx, f"{server.url}/ok")
    assert outcome.ok, outcome.error
    assert samples(outcome)["status_code"] == 200
    assert samples(outcome)["content_length"] > 20
    assert "cert_expiry_seconds" not in samples(outcome)


async def test_unexpected_status_names_the_expected_list(ctx: ProbeContext, server: Server) -> None:
    """503 against status [200] fails as 'status 503 not in [200]' and keeps status_code."""
    outcome = await run(ctx, f"{server.url}/status/503", expect={"status": [200]})
    assert outcome.error == "status 503 not in [200]"
    assert samples(outcome)["status_code"] == 503


async def test_default_accepts_200_to_399(ctx: ProbeContext, server: Server) -> None:
    """Without expect.status, 204 passes and 404 fails with the default range in the reason."""
    assert (await run(ctx, f"{server.url}/status/204")).ok
    outcome = await run(ctx, f"{server.url}/status/404")
    assert outcome.error == "status 404 not in 200-399"


async def test_json_value_assertions(ctx: ProbeContext, server: Server) -> None:
    """JSON paths must equal their value; booleans and numbers compare as JSON values."""
    ok = await run(
        ctx,
        f"{server.url}/ok",
        expect={"json": {"$.status": "healthy", "$.ready": True, "$.uptime": 42}},
    )
    assert ok.ok, ok.error
    bad = await run(ctx, f"{server.url}/degraded", expect={"json": {"$.status": "healthy"}})
    assert bad.error == "$.status: expected healthy, got degraded"


async def test_json_list_of_allowed_values(ctx: ProbeContext, server: Server) -> None:
    """A list means any of its values is accepted."""
    allowed = {"json": {"$.status": ["healthy", "degraded"]}}
    assert (await run(ctx, f"{server.url}/degraded", expect=allowed)).ok
    strict = {"json": {"$.status": ["healthy", "ok"]}}
    outcome = await run(ctx, f"{server.url}/degraded", expect=strict)
    assert outcome.error == "$.status: expected one of [healthy, ok], got degraded"


async def test_json_path_missing(ctx: ProbeContext, server: Server) -> None:
    """A path absent from the document is reported as not found."""
    outcome = await run(ctx, f"{server.url}/ok", expect={"json": {"$.redis": "connected"}})
    assert outcome.error == "$.redis: not found"


async def test_invalid_json(ctx: ProbeContext, server: Server) -> None:
    """JSON assertions on an HTML body fail as 'invalid JSON'."""
    outcome = await run(ctx, f"{server.url}/text", expect={"json": {"$.status": "healthy"}})
    assert outcome.error == "invalid JSON"


async def test_extract_numbers(ctx: ProbeContext, server: Server) -> None:
    """extract turns JSON numbers and numeric strings into samples."""
    outcome = await run(
        ctx, f"{server.url}/ok", extract={"uptime_seconds": "$.uptime", "load": "$.load"}
    )
    assert outcome.ok, outcome.error
    assert samples(outcome)["uptime_seconds"] == 42
    assert samples(outcome)["load"] == 0.5


async def test_extract_failures(ctx: ProbeContext, server: Server) -> None:
    """A missing or non-numeric extracted value fails the check with the sample's name."""
    missing = await run(ctx, f"{server.url}/ok", extract={"x": "$.nope"})
    assert missing.error == "extract x: $.nope not found"
    text = await run(ctx, f"{server.url}/degraded", extract={"uptime_seconds": "$.uptime"})
    assert text.error == "extract uptime_seconds: $.uptime is not a number"


async def test_body_regexes(ctx: ProbeContext, server: Server) -> None:
    """body_matches must match and body_not_matches must not."""
    assert (await run(ctx, f"{server.url}/text", expect={"body_matches": "hello"})).ok
    miss = await run(ctx, f"{server.url}/text", expect={"body_matches": "goodbye"})
    assert miss.error == "body does not match /goodbye/"
    hit = await run(ctx, f"{server.url}/text", expect={"body_not_matches": "(?i)HELLO"})
    assert hit.error == "body matches /(?i)HELLO/"


async def test_header_assertions(ctx: ProbeContext, server: Server) -> None:
    """Header regexes are checked case-insensitively by name; a missing header is named."""
    assert (await run(ctx, f"{server.url}/ok", expect={"headers": {"Content-Type": "json"}})).ok
    wrong = await run(ctx, f"{server.url}/text", expect={"headers": {"content-type": "json"}})
    assert wrong.error == "header content-type: 'text/html; charset=utf-8' does not match /json/"
    missing = await run(ctx, f"{server.url}/ok", expect={"headers": {"x-request-id": "."}})
    assert missing.error == "header x-request-id missing"


async def test_redirects_followed_limited_or_not_followed(
    ctx: ProbeContext, server: Server
) -> None:
    """Redirects are followed up to the limit; beyond it the check fails; unfollowed 302 passes by default."""
    followed = await run(ctx, f"{server.url}/redirect/2", expect={"json": {"$.status": "healthy"}})
    assert followed.ok, followed.error
    limited = await run(ctx, f"{server.url}/redirect/5", max_redirects=2)
    assert limited.error == "too many redirects (2)"
    unfollowed = await run(ctx, f"{server.url}/redirect/1", follow_redirects=False)
    assert unfollowed.ok
    assert samples(unfollowed)["status_code"] == 302


async def test_bearer_and_basic_auth(ctx: ProbeContext, server: Server) -> None:
    """Bearer and basic credentials reach the server as the Authorization header."""
    bearer = await run(ctx, f"{server.url}/auth?expect=Bearer%20tok-1", auth={"bearer": "tok-1"})
    assert bearer.ok, bearer.error
    basic = await run(
        ctx,
        f"{server.url}/auth?expect=Basic%20dTpwdw%3D%3D",
        auth={"basic": {"username": "u", "password": "pw"}},
    )
    assert basic.ok, basic.error
    wrong = await run(ctx, f"{server.url}/auth?expect=Bearer%20tok-1", auth={"bearer": "nope"})
    assert wrong.error == "status 401 not in 200-399"


async def test_post_with_string_and_json_bodies(ctx: ProbeContext, server: Server) -> None:
    """A string body is sent as-is; a mapping is sent as JSON with its content type; headers go along."""
    text = await run(
        ctx,
        f"{server.url}/echo",
        method="POST",
        body="ping",
        headers={"X-Probe": "yes"},
        expect={"json": {"$.body": "ping", "$.method": "POST", "$.x_probe": "yes"}},
    )
    assert text.ok, text.error
    as_json = await run(
        ctx,
        f"{server.url}/echo",
        method="PUT",
        body={"probe": True},
        expect={"json": {"$.body": '{"probe": true}', "$.content_type": "application/json"}},
    )
    assert as_json.ok, as_json.error


async def test_timeout(ctx: ProbeContext, server: Server) -> None:
    """A server that never answers fails as 'timeout after 200ms'."""
    outcome = await run(ctx, f"{server.url}/slow", timeout="200ms", interval="1s")
    assert outcome.error == "timeout after 200ms"


async def test_connection_refused(ctx: ProbeContext) -> None:
    """A port where nothing listens fails as 'connection refused'."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = await run(ctx, f"http://127.0.0.1:{port}/")
    assert outcome.error == "connection refused"


async def test_dns_failure(ctx: ProbeContext) -> None:
    """A name that cannot resolve fails as 'dns: name not found'."""
    outcome = await run(ctx, "http://sentinel-test.invalid/")
    assert outcome.error == "dns: name not found"


async def test_body_over_the_cap(ctx: ProbeContext, server: Server) -> None:
    """Bodies over max_body fail, whether declared by Content-Length or streamed."""
    declared = await run(ctx, f"{server.url}/big")
    assert declared.error == "body exceeds 1 MiB"
    streamed = await run(ctx, f"{server.url}/stream")
    assert streamed.error == "body exceeds 1 MiB"
    roomy = await run(ctx, f"{server.url}/stream", max_body="4MiB")
    assert roomy.ok, roomy.error
    assert samples(roomy)["content_length"] == BIG


async def test_connections_are_reused_unless_fresh(ctx: ProbeContext, server: Server) -> None:
    """Three runs share one keep-alive connection; fresh_connection opens three."""
    probe = HttpProbe(http_check(f"{server.url}/peer"), ctx)
    for _ in range(3):
        assert (await probe.run()).ok
    await probe.close()
    assert len(set(server.peers)) == 1
    server.peers.clear()
    fresh = HttpProbe(http_check(f"{server.url}/peer", fresh_connection=True), ctx)
    for _ in range(3):
        assert (await fresh.run()).ok
    await fresh.close()
    assert len(set(server.peers)) == 3


async def test_https_with_custom_ca_reports_certificate_expiry(
    ctx: ProbeContext, https_server: Server, tls: Tls
) -> None:
    """With the CA file, https passes and cert_expiry_seconds is measured on the injected clock."""
    outcome = await run(ctx, f"{https_server.url}/ok", tls={"ca_file": tls.ca_file})
    assert outcome.ok, outcome.error
    expected = (tls.not_after - NOW).total_seconds()
    assert samples(outcome)["cert_expiry_seconds"] == expected


async def test_https_reports_the_first_certificate_of_the_chain_to_expire(
    ctx: ProbeContext, tmp_path: Path
) -> None:
    """An intermediate expiring before the leaf is reported as chain_expiry_seconds, labelled
    with its subject; cert_expiry_seconds stays the server certificate's."""
    mid_until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    leaf_until = (datetime.now(UTC) + timedelta(days=80)).replace(microsecond=0)
    chain = make_chain(tmp_path, mid_until, leaf_until)
    async for server in serve(chain.server):
        outcome = await run(ctx, f"{server.url}/ok", tls={"ca_file": chain.ca_file})
    assert outcome.ok, outcome.error
    got = {s.name: (s.value, s.labels) for s in outcome.samples}
    assert got["chain_expiry_seconds"] == (
        (mid_until - NOW).total_seconds(),
        (("subject", "Test Intermediate CA"),),
    )
    assert got["cert_expiry_seconds"] == ((leaf_until - NOW).total_seconds(), ())


async def test_https_unknown_ca_fails_verification(ctx: ProbeContext, https_server: Server) -> None:
    """Without the CA, verification fails with a tls: reason."""
    outcome = await run(ctx, f"{https_server.url}/ok")
    assert outcome.error is not None
    assert outcome.error.startswith("tls: ")
    assert "certificate" in outcome.error


async def test_https_without_verification_still_reports_expiry(
    ctx: ProbeContext, https_server: Server, tls: Tls
) -> None:
    """verify: false accepts the certificate and still reports when it expires."""
    outcome = await run(ctx, f"{https_server.url}/ok", tls={"verify": False})
    assert outcome.ok, outcome.error
    assert samples(outcome)["cert_expiry_seconds"] == (tls.not_after - NOW).total_seconds()


async def test_expired_certificate(ctx: ProbeContext, expired_server: Server, tls: Tls) -> None:
    """An expired certificate fails as 'tls: certificate has expired'."""
    outcome = await run(ctx, f"{expired_server.url}/ok", tls={"ca_file": tls.ca_file})
    assert outcome.error == "tls: certificate has expired"


async def test_missing_ca_file_is_a_failed_result(ctx: ProbeContext, server: Server) -> None:
    """A ca_file that cannot be read fails every run with a reason instead of raising."""
    outcome = await run(ctx, f"{server.url}/ok", tls={"ca_file": "/nonexistent/ca.pem"})
    assert outcome.error == "tls: cannot load ca_file"


@pytest.mark.parametrize("secret", ["hunter2-bearer"])
async def test_reasons_carry_no_credentials_or_urls(
    ctx: ProbeContext, server: Server, secret: str
) -> None:
    """Failure reasons never contain the URL or the credentials."""
    url = f"{server.url}/status/500?token={secret}"
    outcome = await run(ctx, url, auth={"bearer": secret})
    assert outcome.error is not None
    assert secret not in outcome.error
    assert "127.0.0.1" not in outcome.error
