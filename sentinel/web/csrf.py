"""The status page's form protection: a double-submit token, decided purely.

The page's GET sets a random ``sentinel_csrf`` cookie and puts
``HMAC-SHA256(ack_key, cookie)`` in a hidden field; a POST must bring both, matching,
and its ``Origin``/``Referer`` (when sent) must name this host.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import urlsplit

COOKIE = "sentinel_csrf"
COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


def csrf_token(key: bytes, cookie: str) -> str:
    """The form field that goes with a cookie: HMAC-SHA256(server secret, cookie), hex."""
    return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()


def csrf_refusal(
    *,
    key: bytes,
    cookie: str | None,
    token: str | None,
    host: str,
    origin: str | None,
    referer: str | None,
) -> str | None:
    """Why a form POST is refused, or None when it may proceed."""
    for header, value in (("Origin", origin), ("Referer", referer)):
        if value is None:
            continue
        if value == "null" or urlsplit(value).netloc.lower() != host.lower():
            return f"{header} is another site"
    if not cookie or not COOKIE_SHAPE.fullmatch(cookie):
        return "no form cookie (reload the page and try again)"
    if not token or not hmac.compare_digest(token.encode(), csrf_token(key, cookie).encode()):
        return "form token does not match (reload the page and try again)"
    return None
