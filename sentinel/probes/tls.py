"""TLS probe: handshake, certificate expiry, hostname match and chain validity.

A verified handshake first; when it fails, an unverified one still reads the
certificate so expiry and issuer are reported alongside the reason. Expiry is
the server certificate's (Python 3.11's ssl module does not expose the rest
of the chain).
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
from sentinel.probes.errors import describe_os_error
from sentinel.results import Outcome, Sample

HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH


@dataclass(frozen=True, slots=True)
class Handshake:
    der: bytes | None
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


def issuer_name(cert: x509.Certificate) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        found = cert.issuer.get_attributes_for_oid(oid)
        if found:
            return str(found[0].value)
    return cert.issuer.rfc4514_string()


class TlsProbe:
    def __init__(self, check: TlsCheck, ctx: ProbeContext) -> None:
        self._clock: Clock = ctx.clock
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
        self._unverified = ssl.create_default_context()
        self._unverified.check_hostname = False
        self._unverified.verify_mode = ssl.CERT_NONE

    async def _handshake(self, context: ssl.SSLContext) -> Handshake:
        start = self._clock.monotonic()
        _, writer = await asyncio.open_connection(
            self._host, self._port, ssl=context, server_hostname=self._server_name
        )
        try:
            elapsed = self._clock.monotonic() - start
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            return Handshake(der, elapsed)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def run(self) -> Outcome:
        if self._setup_error is not None:
            return Outcome.failed(self._setup_error)
        reason: str | None = None
        chain_valid = hostname_ok = True
        try:
            shake = await self._handshake(self._verified)
        except ssl.SSLCertVerificationError as exc:
            reason = describe_os_error(exc)
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
        if shake.der:
            cert = x509.load_der_x509_certificate(shake.der)
            hostname_ok = hostname_matches(cert, self._server_name)
            expiry = cert.not_valid_after_utc.timestamp() - self._clock.now().timestamp()
            samples.append(Sample("cert_expiry_seconds", expiry, (("issuer", issuer_name(cert)),)))
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
