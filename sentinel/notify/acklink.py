"""Signed, expiring acknowledgement links: ack from a phone, without the API token.

A link is ``{external_url}/ack/{fingerprint}/{token}``. The token is 20
URL-safe characters (base64url of 15 bytes, no padding), so the whole link
fits an SMS next to the alert's summary::

    bytes 0-3    expiry, unsigned big-endian seconds since the epoch (until 2106)
    bytes 4-14   the first 88 bits of HMAC-SHA256(key, DOMAIN + fingerprint + 0x00 + bytes 0-3)

The MAC covers the full fingerprint, so a token acknowledges one alert only,
and its expiry, so the expiry cannot be stretched. 88 bits leave an attacker
who can only guess online no chance; the key is the server's secret.

:func:`check_token` never raises on what a visitor sends: it answers ``True``
or a short fixed reason (``"malformed"``, ``"bad signature"``, ``"expired"``)
fit for a log field and a metric label. The signature is checked before the
expiry, so a forged token is told ``"bad signature"`` whatever date it names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import Literal

DOMAIN = b"sentinel-ack-v1\x00"
EXPIRY = struct.Struct(">I")
MAC_BYTES = 11
TOKEN_LENGTH = 20  # base64url of EXPIRY.size + MAC_BYTES = 15 bytes, a multiple of 3: no padding
_TOKEN = re.compile(r"[A-Za-z0-9_-]{%d}" % TOKEN_LENGTH)  # noqa: UP031 (a regex, not a message)

Refusal = Literal["malformed", "bad signature", "expired"]


def make_token(fingerprint: str, expires_at: float, key: bytes) -> str:
    """A token for ``fingerprint`` valid until ``expires_at`` (epoch seconds, rounded down)."""
    expiry = int(expires_at)
    if not 0 <= expiry <= 0xFFFFFFFF:
        raise ValueError(f"expires_at {expires_at!r} is outside 1970-2106")
    if not key:
        raise ValueError("the signing key is empty")
    packed = EXPIRY.pack(expiry)
    return base64.urlsafe_b64encode(packed + _mac(fingerprint, packed, key)).decode("ascii")


def check_token(fingerprint: str, token: str, key: bytes, now: float) -> Literal[True] | Refusal:
    """``True`` if ``token`` was made for ``fingerprint`` with ``key`` and ``now`` is before its expiry."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return "malformed"
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):  # unreachable after the pattern, kept as a guard
        return "malformed"
    packed, mac = raw[: EXPIRY.size], raw[EXPIRY.size :]
    if not key or not hmac.compare_digest(mac, _mac(fingerprint, packed, key)):
        return "bad signature"
    if now >= EXPIRY.unpack(packed)[0]:
        return "expired"
    return True


def ack_path(fingerprint: str, token: str) -> str:
    """The link's path, ``/ack/{fingerprint}/{token}``, to join to ``server.external_url``."""
    return f"/ack/{fingerprint}/{token}"


def _mac(fingerprint: str, packed: bytes, key: bytes) -> bytes:
    # surrogatepass: any str a visitor puts in a URL encodes, so checking never raises.
    message = DOMAIN + fingerprint.encode("utf-8", "surrogatepass") + b"\x00" + packed
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]
