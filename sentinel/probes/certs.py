"""The certificates a server presents, and which of them expires first.

An intermediate that expires before the leaf breaks every client just the
same, so expiry is judged over the whole presented chain. Python 3.13 has
``SSLObject.get_unverified_chain()``; 3.10 to 3.12 have the same method on the
private ``_sslobj`` (returning ``_ssl.Certificate`` objects). Where neither
exists, the chain is the leaf alone.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

DER = 2  # _ssl.ENCODING_DER
KEPT = 16  # chains remembered by a probe (a target rotates its certificate rarely)


@dataclass(frozen=True, slots=True)
class Cert:
    """One certificate of a chain, as reasons and samples name it."""

    subject: str
    issuer: str
    not_after: float  # unix time
    position: int  # 0 is the server's own certificate

    @property
    def role(self) -> str:
        return "certificate" if self.position == 0 else "intermediate"

    def describe(self, now: float) -> str:
        """``intermediate "Example CA" expired 2026-03-01T00:00:00Z`` (or ``expires``)."""
        when = datetime.fromtimestamp(self.not_after, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f'{self.role} "{self.subject}" {"expired" if self.not_after < now else "expires"} {when}'


@dataclass(frozen=True, slots=True)
class Chain:
    leaf: Cert
    earliest: Cert  # the first to expire; the leaf when none expires before it


def _name(name: x509.Name) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        found = name.get_attributes_for_oid(oid)
        if found:
            return str(found[0].value)
    return name.rfc4514_string()


def presented_chain(ssl_object: Any) -> tuple[bytes, ...]:
    """DER of each certificate the peer sent, its own first; () when there is none."""
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        try:
            certs = getter() or []
        except (ssl.SSLError, ValueError):
            certs = []
        chain = tuple(c if isinstance(c, bytes) else c.public_bytes(DER) for c in certs)
        if chain:
            return chain
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def read_chain(ders: tuple[bytes, ...]) -> Chain | None:
    """The leaf and the earliest-expiring certificate; None for an empty or unreadable chain."""
    certs: list[Cert] = []
    for position, der in enumerate(ders):
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        certs.append(
            Cert(
                _name(cert.subject),
                _name(cert.issuer),
                cert.not_valid_after_utc.timestamp(),
                position,
            )
        )
    if not certs or certs[0].position != 0:
        return None
    return Chain(certs[0], min(certs, key=lambda c: (c.not_after, c.position)))


class ChainCache:
    """Parsed chains by their DER, so a keep-alive target is parsed once, not every run."""

    def __init__(self) -> None:
        self._known: dict[tuple[bytes, ...], Chain | None] = {}

    def read(self, ders: tuple[bytes, ...]) -> Chain | None:
        if ders not in self._known:
            if len(self._known) >= KEPT:
                self._known.clear()
            self._known[ders] = read_chain(ders)
        return self._known[ders]
