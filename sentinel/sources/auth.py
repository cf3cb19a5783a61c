"""Does a request come from the source it names? Bearer token or basic auth (what
Alertmanager's ``http_config`` and Grafana's contact point send), or an Events v2
routing key. Constant-time comparisons; nothing here logs or returns a secret."""

from __future__ import annotations

import base64
import binascii
import hmac

from sentinel.config.sources import Source


def _same(given: str, wanted: str) -> bool:
    return hmac.compare_digest(given.encode(), wanted.encode())


def authorized(source: Source, authorization: str | None) -> bool:
    """The ``Authorization`` header proves the source (events sources: see routing_key_ok)."""
    scheme, _, credential = (authorization or "").strip().partition(" ")
    credential = credential.strip()
    if source.token is not None:
        return scheme.lower() == "bearer" and _same(credential, source.token.get_secret_value())
    if source.basic_auth is not None:
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credential, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        wanted = source.basic_auth
        # Both compared whatever the first says, so timing tells nothing.
        ok_user = _same(user, wanted.username)
        ok_password = _same(password, wanted.password.get_secret_value())
        return bool(sep) and ok_user and ok_password
    return False


def routing_key_ok(source: Source, routing_key: str) -> bool:
    return source.routing_key is not None and _same(
        routing_key, source.routing_key.get_secret_value()
    )
