"""Signed, expiring acknowledgement links: ack from a phone, without the API token.

A link is ``{external_url}/ack/{fingerprint}/{token}`` and acknowledges one
firing of the alert (one outage, one escalation), never the alert's later
outages. The token is 24 URL-safe characters (base64url of 18 bytes, no
padding), so the whole link fits an SMS next to the alert's summary::

    bytes 0-3    expiry, unsigned big-endian seconds since the epoch (until 2106)
    bytes 4-8    when the firing began, unsigned big-endian centiseconds since the epoch
    bytes 9-17   the first 72 bits of HMAC-SHA256(key, DOMAIN + fingerprint + 0x00 + bytes 0-8)

The MAC covers the full fingerprint, so a token acknowledges one alert only;
its firing time, so it cannot be moved to a later outage; and its expiry, so
the expiry cannot be stretched. 72 bits leave an attacker who can only guess
online no chance (2^71 tries on average: 10^14 years at a thousand a second); the key is the server's secret. The firing time is stable
across restarts (it is the alert's, kept in the store).

:func:`check_token` never raises on what a visitor sends: it answers ``True``
or a short fixed reason fit for a log field and a metric label:
``"malformed"``, ``"outdated"`` (the 20-character links of sentinel before
firings had an identity: they cannot say which outage they were for),
``"bad signature"``, ``"expired"``, ``"over"`` (made for an earlier outage of
the alert, which has ended). The signature is checked before anything it
signs, so a forged token is told ``"bad signature"`` whatever it names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import Literal

DOMAIN = b"sentinel-ack-v2\x00"
SIGNED = struct.Struct(">IBI")  # expiry (s); firing time (cs) as its top 8 and low 32 bits
MAC_BYTES = 9
TOKEN_LENGTH = 24  # base64url of SIGNED.size + MAC_BYTES = 18 bytes, a multiple of 3: no padding
OLD_LENGTH = 20  # the links of sentinel before firings had an identity
_TOKEN = re.compile(r"[A-Za-z0-9_-]{%d}" % TOKEN_LENGTH)  # noqa: UP031 (a regex, not a message)
_OLD = re.compile(r"[A-Za-z0-9_-]{%d}" % OLD_LENGTH)  # noqa: UP031 (a regex, not a message)
MAX_CS = (1 << 40) - 1

Refusal = Literal["malformed", "outdated", "bad signature", "expired", "over"]


def make_token(fingerprint: str, fired_at: float | None, expires_at: float, key: bytes) -> str:
    """A token for the firing of ``fingerprint`` that began at ``fired_at`` (epoch
    seconds; None when unknown), valid until ``expires_at`` (epoch seconds, rounded down)."""
    expiry = int(expires_at)
    if not 0 <= expiry <= 0xFFFFFFFF:
        raise ValueError(f"expires_at {expires_at!r} is outside 1970-2106")
    if not key:
        raise ValueError("the signing key is empty")
    cs = _cs(fired_at)
    if not 0 <= cs <= MAX_CS:
        raise ValueError(f"fired_at {fired_at!r} is outside 1970-2318")
    packed = SIGNED.pack(expiry, cs >> 32, cs & 0xFFFFFFFF)
    return base64.urlsafe_b64encode(packed + _mac(fingerprint, packed, key)).decode("ascii")


def check_token(
    fingerprint: str, token: str, key: bytes, now: float, firing: float | None
) -> Literal[True] | Refusal:
    """``True`` if ``token`` was made for ``fingerprint`` with ``key``, ``now`` is before
    its expiry, and it names the alert's current firing: ``firing`` is when that began,
    None when the alert is not firing (a link to an outage that is over)."""
    if isinstance(token, str) and _OLD.fullmatch(token):
        return "outdated"
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return "malformed"
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):  # unreachable after the pattern, kept as a guard
        return "malformed"
    packed, mac = raw[: SIGNED.size], raw[SIGNED.size :]
    if not key or not hmac.compare_digest(mac, _mac(fingerprint, packed, key)):
        return "bad signature"
    expiry, high, low = SIGNED.unpack(packed)
    if now >= expiry:
        return "expired"
    if firing is None or (high << 32 | low) != _cs(firing):
        return "over"
    return True


def _cs(at: float | None) -> int:
    """Epoch centiseconds (two firings of one alert are never that close)."""
    return 0 if at is None else round(at * 100)


def ack_path(fingerprint: str, token: str) -> str:
    """The link's path, ``/ack/{fingerprint}/{token}``, to join to ``server.external_url``."""
    return f"/ack/{fingerprint}/{token}"


def _mac(fingerprint: str, packed: bytes, key: bytes) -> bytes:
    # surrogatepass: any str a visitor puts in a URL encodes, so checking never raises.
    message = DOMAIN + fingerprint.encode("utf-8", "surrogatepass") + b"\x00" + packed
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def voice_path(fingerprint: str, token: str) -> str:
    """Where Twilio posts a call's keypress, ``/twilio/voice/{fingerprint}/{token}``
    (``/status`` after it: the call's outcome). The token is the firing's ack token."""
    return f"/twilio/voice/{fingerprint}/{token}"


def split_ack_url(url: str | None, fingerprint: str) -> tuple[str, str] | None:
    """``(external_url, token)`` of an ack link made for ``fingerprint``; None otherwise."""
    if not url:
        return None
    base, sep, token = url.rpartition(f"/ack/{fingerprint}/")
    if not sep or not base or not _TOKEN.fullmatch(token):
        return None
    return base, token
