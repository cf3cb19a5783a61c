"""Short, fixed failure reasons for network errors, shared by probes.

Reasons never include the address, URL or any credential.
"""

from __future__ import annotations

import errno
import socket
import ssl

_ERRNO = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connect timed out",
    errno.EPIPE: "connection closed",
    errno.EADDRNOTAVAIL: "address not available",
}


def describe_os_error(exc: BaseException) -> str:
    """``connection refused``, ``dns: name not found``, ``tls: certificate has expired``..."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: {exc.verify_message or 'certificate verify failed'}"
    if isinstance(exc, ssl.SSLError):
        return f"tls: {exc.reason or 'handshake failed'}".lower()
    if isinstance(exc, socket.gaierror):
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            return "dns: name not found"
        return "dns: lookup failed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    # An OSError raised for several addresses (IPv4 and IPv6) keeps no errno.
    text = str(exc).lower()
    if "connect call failed" in text or "connection refused" in text:
        return "connection refused"
    return f"network error: {type(exc).__name__}"
