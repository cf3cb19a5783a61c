"""What every answer of the web app carries, set once here rather than per handler.

- Security headers on every answer, HTML or not, errors included: a
  Content-Security-Policy without script or outside resources that forbids
  framing, ``X-Frame-Options: DENY`` for older browsers, ``nosniff``, and no
  ``Referer`` leaving (a signed ack link carries its credential in the path). A
  handler may set its own value of one of them (the status page sends
  ``Referrer-Policy: same-origin``); :func:`security_headers` fills in the rest as
  each answer is prepared (streamed answers such as /metrics included).
- A handler that fails answers a plain 500 (with the headers) and logs why.
- Request bodies: at most ``MAX_BODY`` (aiohttp's ``client_max_size``); a declared
  ``Content-Length`` above it is refused with 413 before any handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from sentinel.web.api_requests import JSON_ERROR_PREFIXES, error

log = structlog.get_logger("sentinel.web")

SOURCE_PATHS = ("/api/v1/sources/", "/v2/enqueue")
MAX_BODY = 1024 * 1024  # 1 MiB: the largest legitimate body (a silence, a write-up) is ~10 kB
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def security_headers(_: web.Request, response: web.StreamResponse) -> None:
    """The app's ``on_response_prepare``: every answer's headers, before they are sent."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """413 for a body declared too large, and a plain 500 for a handler that fails."""
    try:
        length = request.content_length
        # Alert sources have their own limit (sources[].max_body), applied while reading.
        own_limit = request.path.startswith(SOURCE_PATHS)
        if length is not None and length > MAX_BODY and not own_limit:
            if request.path.startswith(JSON_ERROR_PREFIXES):
                response: web.StreamResponse = error("request entity too large", 413)
            else:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=length)
        else:
            response = await handler(request)
    except web.HTTPException:
        raise
    except Exception:  # under /api/ json_errors answers first; this is the page's and the acks'
        # The route, not the path: an ack link's path holds its credential.
        route = request.match_info.route.resource
        where = route.canonical if route is not None else "?"
        log.exception("web_handler_failed", route=where, method=request.method)
        response = web.Response(status=500, text="internal error (see the log)")
    return response
