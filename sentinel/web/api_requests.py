"""What every JSON handler shares: JSON errors, query parameters, pages, bodies.

Bad input raises :class:`BadRequest` (answered 400 by :func:`json_errors`); under
/api/ and /-/ every error is JSON ``{"error": "..."}``. Lists are pages:
``?limit=`` 1..1000 (default 100) and ``?offset=`` >= 0 give
``{items, total, limit, offset, next}``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from sentinel.store import StoreError

log = structlog.get_logger("sentinel.web.api")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_OFFSET = 2**31 - 1
JSON_ERROR_PREFIXES = ("/api/", "/-/")
_DIGITS = re.compile(r"[0-9]{1,12}")
STORE_RETRY_AFTER = 5  # seconds a client waits before asking again when the store is out


class BadRequest(Exception):
    """Bad input; answered as 400 with the message."""


def error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Under /api/ and /-/, aiohttp's own errors (unknown route, wrong method, body too
    large) and anything unexpected answer as JSON ``{"error": ...}`` too. A store that
    cannot be read (PostgreSQL down, failing over) is 503 with ``Retry-After``, not a
    500: the request was fine, the answer needs the store (e.g. a check's recent runs,
    the shared history on several replicas)."""
    if not request.path.startswith(JSON_ERROR_PREFIXES):
        return await handler(request)
    try:
        return await handler(request)
    except BadRequest as exc:
        return error(str(exc), 400)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        kept = {
            k: v
            for k, v in exc.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        response = error(exc.reason.lower(), exc.status)
        response.headers.update(kept)
        return response
    except StoreError as exc:
        log.warning("api_store_unavailable", path=request.path, error=str(exc))
        response = error("the store cannot be read now; retry", 503)
        response.headers["Retry-After"] = str(STORE_RETRY_AFTER)
        return response
    except Exception:
        log.exception("api_handler_failed", path=request.path, method=request.method)
        return error("internal error (see the log)", 500)


# -- query parameters ---------------------------------------------------------


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def paging(request: web.Request) -> tuple[int, int]:
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    return limit, int_param(request, "offset", 0, 0, MAX_OFFSET)


def choice_param(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.query.get(name)
    if raw is not None and raw not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}")
    return raw


def since_param(request: web.Request) -> float | None:
    raw = request.query.get("since")
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return at.timestamp()
    except (ValueError, OverflowError):
        raise BadRequest("since must be an ISO 8601 time, e.g. 2026-01-31T00:00:00Z") from None


def page(
    request: web.Request, items: list[Any], total: int, limit: int, offset: int
) -> dict[str, Any]:
    """A page of a list, with the URL of the next one (same filters) or null."""
    following = None
    if offset + len(items) < total and items:
        following = str(request.rel_url.update_query(limit=limit, offset=offset + len(items)))
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next": following}


def sliced(request: web.Request, everything: list[Any]) -> dict[str, Any]:
    limit, offset = paging(request)
    return page(request, everything[offset : offset + limit], len(everything), limit, offset)


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else None
    except (ValueError, RecursionError):
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body
