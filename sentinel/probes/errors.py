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


_MALFORMED = (
    ("can not decode content-encoding", "Content-Encoding not supported"),
    ("bad status line", "bad status line"),
    ("got more than", "header or status line too long"),
    ("data after", "data after the end of the body"),
    ("invalid header", "invalid header"),
    ("duplicate", "duplicate header"),
    ("transfer-encoding", "invalid Transfer-Encoding"),
    ("content-length", "invalid Content-Length"),
)


def invalid_response(exc: BaseException) -> str:
    """A short reason for an answer that is not valid HTTP. aiohttp's own message quotes
    what the server sent (any bytes, any length), so it is never shown."""
    message = str(getattr(exc, "message", "")).lower()
    for needle, what in _MALFORMED:
        if needle in message:
            return f"invalid HTTP response: {what}"
    return "invalid HTTP response"


def describe_http_error(exc: BaseException, timeout_reason: str) -> str | None:
    """The reason for an aiohttp client failure, or None when ``exc`` is not one."""
    import aiohttp  # local: errors.py is also used by probes that never speak HTTP
    from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError

    if isinstance(exc, TimeoutError):
        return timeout_reason
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return describe_os_error(exc.certificate_error)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns: name not found"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return describe_os_error(exc.os_error)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        if isinstance(exc.__cause__, ContentEncodingError):
            return "body cannot be decoded as its Content-Encoding says"
        return "incomplete body"
    if isinstance(exc, aiohttp.ClientResponseError):
        if isinstance(exc.__cause__, HttpProcessingError):
            return invalid_response(exc.__cause__)
        return f"bad response: {exc.status or type(exc).__name__}"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return f"http error: {type(exc).__name__}"
    return None
