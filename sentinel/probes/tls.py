"""TLS probe: handshake, certificate expiry, hostname match and chain validity.

A verified handshake first; when it fails, an unverified one still reads the
certificates so expiry and issuer are reported alongside the reason. Expiry
is reported for the server's certificate and for the first of the presented
chain to expire (an intermediate expiring first breaks clients just the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from sentinel.clock import Clock
from sentinel.config.checks import TlsCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.certs import ChainCache, presented_chain
from sentinel.probes.errors import describe_os_error
from sentinel.probes.results import Outcome, Sample

HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
EXPIRED = 10  # X509_V_ERR_CERT_HAS_EXPIRED


@dataclass(frozen=True, slots=True)
class Handshake:
    chain: tuple[bytes, ...]  # DER, the server's own certificate first
    seconds: float


def hostname_matches(cert: x509.Certificate, hostname: str) -> bool:
    """RFC 6125 matching against DNS names (a wildcard stands for one left-most label)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names: list[object] = list(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    host = hostname.lower().rstrip(".")
    for raw in names:
        name = str(raw).lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


class TlsProbe:
    def __init__(self, check: TlsCheck, ctx: ProbeContext) -> None:
        self._clock: Clock = ctx.clock
        self._local = None if ctx.source_address is None else (ctx.source_address, 0)
        host, _, port = check.target.rpartition(":")
        self._host = host.strip("[]")
        self._port = int(port)
        self._server_name = check.server_name or self._host
        self._setup_error: str | None = None
        try:
            self._verified = ssl.create_default_context(cafile=check.ca_file)
        except (OSError, ssl.SSLError):
            self._verified = ssl.create_default_context()
            self._setup_error = "tls: cannot load ca_file"
        self._chain_only = (
            ssl.create_default_context(cafile=check.ca_file) if not self._setup_error else None
        )
        if self._chain_only is not None:
            self._chain_only.check_hostname = False
        self._chains = ChainCache()
        self._unverified = ssl.create_default_context()
        self._unverified.check_hostname = False
        self._unverified.verify_mode = ssl.CERT_NONE

    async def _handshake(self, context: ssl.SSLContext) -> Handshake:
        start = self._clock.monotonic()
        _, writer = await asyncio.open_connection(
            self._host,
            self._port,
            ssl=context,
            server_hostname=self._server_name,
            local_addr=self._local,
        )
        try:
            elapsed = self._clock.monotonic() - start
            ssl_object = writer.get_extra_info("ssl_object")
            chain = presented_chain(ssl_object) if ssl_object is not None else ()
            return Handshake(chain, elapsed)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def run(self) -> Outcome:
        if self._setup_error is not None:
            return Outcome.failed(self._setup_error)
        reason: str | None = None
        verify_code = 0
        chain_valid = hostname_ok = True
        try:
            shake = await self._handshake(self._verified)
        except ssl.SSLCertVerificationError as exc:
            reason = describe_os_error(exc)
            verify_code = exc.verify_code
            if exc.verify_code == HOSTNAME_MISMATCH and self._chain_only is not None:
                chain_valid = await self._chain_ok()
            else:
                chain_valid = False
            try:
                shake = await self._handshake(self._unverified)
            except (OSError, ssl.SSLError) as again:
                return Outcome.failed(describe_os_error(again))
        except (OSError, ssl.SSLError) as exc:
            return Outcome.failed(describe_os_error(exc))
        samples = [Sample("handshake_seconds", shake.seconds)]
        chain = self._chains.read(shake.chain)
        if chain is not None:
            cert = x509.load_der_x509_certificate(shake.chain[0])
            hostname_ok = hostname_matches(cert, self._server_name)
            now = self._clock.now().timestamp()
            leaf, first = chain.leaf, chain.earliest
            samples.append(
                Sample("cert_expiry_seconds", leaf.not_after - now, (("issuer", leaf.issuer),))
            )
            samples.append(
                Sample("chain_expiry_seconds", first.not_after - now, (("subject", first.subject),))
            )
            if verify_code == EXPIRED and first.not_after < now:
                reason = f"tls: {first.describe(now)}"
        samples.append(Sample("hostname_match", 1.0 if hostname_ok else 0.0))
        samples.append(Sample("chain_valid", 1.0 if chain_valid else 0.0))
        if reason is not None:
            return Outcome.failed(reason, tuple(samples))
        return Outcome(ok=True, samples=tuple(samples))

    async def _chain_ok(self) -> bool:
        assert self._chain_only is not None
        try:
            await self._handshake(self._chain_only)
        except (OSError, ssl.SSLError):
            return False
        return True

    async def close(self) -> None:
        return None
