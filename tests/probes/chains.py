"""Certificate chains with chosen expiry dates (trustme cannot date an intermediate)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Chain:
    server: ssl.SSLContext  # presents the leaf and the intermediate
    ca_file: str  # trusts the root


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    signer: ec.EllipticCurvePrivateKey,
    not_after: datetime,
    ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=400))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        names = [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_chain(directory: Path, intermediate_until: datetime, leaf_until: datetime) -> Chain:
    """Root (trusted, long-lived) -> "Test Intermediate CA" -> leaf for localhost."""
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    far = datetime.now(UTC) + timedelta(days=3650)
    root = _cert("Test Root CA", root_key, "Test Root CA", root_key, far, ca=True)
    mid = _cert(
        "Test Intermediate CA", mid_key, "Test Root CA", root_key, intermediate_until, ca=True
    )
    leaf = _cert("localhost", leaf_key, "Test Intermediate CA", mid_key, leaf_until, ca=False)
    pem = serialization.Encoding.PEM
    (directory / "root.pem").write_bytes(root.public_bytes(pem))
    chain_file = directory / "chain.pem"
    chain_file.write_bytes(leaf.public_bytes(pem) + mid.public_bytes(pem))
    key_file = directory / "leaf.key"
    key_file.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(chain_file, key_file)
    return Chain(server, str(directory / "root.pem"))
