"""TLS probe against local TLS servers with certificates made by trustme."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from sentinel.clock import FakeClock
from sentinel.config.checks import TlsCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.results import Outcome
from sentinel.probes.tls import TlsProbe
from tests.conftest import free_port
from tests.probes.chains import make_chain
from tests.probes.conftest import NOW, sample_values

FAKE_NOW = NOW
Serve = Callable[..., "asyncio.Future[int]"]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Sentinel Test CA")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
async def tls_server() -> AsyncIterator[Callable[[trustme.LeafCert], Any]]:
    servers: list[asyncio.Server] = []

    async def start(leaf: trustme.LeafCert | ssl.SSLContext) -> int:
        if isinstance(leaf, ssl.SSLContext):
            context = leaf
        else:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            leaf.configure_cert(context)

        async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def probe(ctx: ProbeContext, port: int, **options: Any) -> Outcome:
    check = TlsCheck.model_validate(
        {
            "type": "tls",
            "name": "cert",
            "target": f"127.0.0.1:{port}",
            "server_name": "localhost",
            **options,
        }
    )
    return await TlsProbe(check, ctx).run()


def labels(outcome: Outcome, name: str) -> dict[str, str]:
    return next(dict(s.labels) for s in outcome.samples if s.name == name)


async def test_valid_certificate(
    ctx: ProbeContext, ca: trustme.CA, ca_file: str, tls_server: Any
) -> None:
    """A trusted certificate for the name passes with expiry (on the injected clock) and issuer."""
    not_after = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    port = await tls_server(ca.issue_cert("localhost", not_after=not_after))
    outcome = await probe(ctx, port, ca_file=ca_file)
    assert outcome.ok, outcome.error
    got = sample_values(outcome)
    assert (
        got["cert_expiry_seconds{issuer=Sentinel Test CA}"]
        == (not_after - FAKE_NOW).total_seconds()
    )
    assert got["hostname_match"] == 1
    assert got["chain_valid"] == 1
    assert labels(outcome, "cert_expiry_seconds") == {"issuer": "Sentinel Test CA"}


async def test_expired_certificate(
    ctx: ProbeContext, ca: trustme.CA, ca_file: str, tls_server: Any
) -> None:
    """An expired certificate fails with the reason and still reports a negative expiry."""
    past = datetime.now(UTC) - timedelta(days=3)
    port = await tls_server(
        ca.issue_cert("localhost", not_before=past - timedelta(days=30), not_after=past)
    )
    real_now = ProbeContext(clock=FakeClock(start=datetime.now(UTC)))
    outcome = await probe(real_now, port, ca_file=ca_file)
    when = past.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert outcome.error is not None
    assert outcome.error.startswith('tls: certificate "trustme')
    assert outcome.error.endswith(f'" expired {when}')
    assert sample_values(outcome)["cert_expiry_seconds{issuer=Sentinel Test CA}"] < 0
    assert sample_values(outcome)["chain_valid"] == 0


async def test_an_intermediate_expiring_before_the_leaf_is_what_expires(
    ctx: ProbeContext, tls_server: Any, tmp_path: Path
) -> None:
    """The chain's expiry is its earliest notAfter, named by the certificate's subject; the
    leaf's own expiry stays in cert_expiry_seconds."""
    mid_until = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    leaf_until = (datetime.now(UTC) + timedelta(days=60)).replace(microsecond=0)
    chain = make_chain(tmp_path, mid_until, leaf_until)
    port = await tls_server(chain.server)
    outcome = await probe(ctx, port, ca_file=chain.ca_file)
    assert outcome.ok, outcome.error
    got = sample_values(outcome)
    assert got["chain_expiry_seconds{subject=Test Intermediate CA}"] == (
        (mid_until - FAKE_NOW).total_seconds()
    )
    assert got["cert_expiry_seconds{issuer=Test Intermediate CA}"] == (
        (leaf_until - FAKE_NOW).total_seconds()
    )


async def test_an_expired_intermediate_is_named_in_the_reason(
    tls_server: Any, tmp_path: Path
) -> None:
    """An intermediate that has expired under a valid leaf fails the check, and the reason
    says which certificate it is and when it expired."""
    mid_until = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    leaf_until = (datetime.now(UTC) + timedelta(days=60)).replace(microsecond=0)
    chain = make_chain(tmp_path, mid_until, leaf_until)
    port = await tls_server(chain.server)
    real_now = ProbeContext(clock=FakeClock(start=datetime.now(UTC)))
    outcome = await probe(real_now, port, ca_file=chain.ca_file)
    when = mid_until.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert outcome.error == f'tls: intermediate "Test Intermediate CA" expired {when}'
    assert sample_values(outcome)["chain_expiry_seconds{subject=Test Intermediate CA}"] < 0
    assert sample_values(outcome)["chain_valid"] == 0


async def test_unknown_issuer(ctx: ProbeContext, ca: trustme.CA, tls_server: Any) -> None:
    """A certificate from a CA the machine does not trust fails chain validation."""
    port = await tls_server(ca.issue_cert("localhost"))
    outcome = await probe(ctx, port)
    assert outcome.error == "tls: unable to get local issuer certificate"
    assert sample_values(outcome)["chain_valid"] == 0
    assert sample_values(outcome)["hostname_match"] == 1


async def test_wrong_host(ctx: ProbeContext, ca: trustme.CA, ca_file: str, tls_server: Any) -> None:
    """A valid chain for another name fails on the hostname, chain still valid."""
    port = await tls_server(ca.issue_cert("other.example.com"))
    outcome = await probe(ctx, port, ca_file=ca_file)
    assert outcome.error is not None
    assert outcome.error.startswith("tls: Hostname mismatch")
    assert sample_values(outcome)["hostname_match"] == 0
    assert sample_values(outcome)["chain_valid"] == 1


async def test_nothing_listening(ctx: ProbeContext) -> None:
    """No server: 'connection refused'."""
    outcome = await probe(ctx, free_port())
    assert outcome.error == "connection refused"
