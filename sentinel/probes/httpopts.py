"""Request options shared by the probes that speak HTTP (http, prometheus)."""

from __future__ import annotations

import base64
import ssl

from sentinel.config.checks import HttpAuth, TlsOptions


def request_headers(headers: dict[str, str], auth: HttpAuth | None) -> dict[str, str]:
    """The configured headers plus an Authorization header for basic or bearer auth."""
    out = dict(headers)
    if auth is not None and auth.bearer is not None:
        out["Authorization"] = f"Bearer {auth.bearer.get_secret_value()}"
    elif auth is not None and auth.basic is not None:
        pair = f"{auth.basic.username}:{auth.basic.password.get_secret_value()}".encode()
        out["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return out


def ssl_option(tls: TlsOptions) -> tuple[ssl.SSLContext | bool, str | None]:
    """What to pass as aiohttp's ``ssl=``, and a failure reason when ca_file cannot be used."""
    if not tls.verify:
        return False, None
    if tls.ca_file:
        try:
            return ssl.create_default_context(cafile=tls.ca_file), None
        except (OSError, ssl.SSLError):
            return True, "tls: cannot load ca_file"
    return True, None
