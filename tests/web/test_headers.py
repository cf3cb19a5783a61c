"""The answer middleware and headers on their own, served on loopback: a failing handler still answers
with the security headers, and its log line names the route, not the path."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from sentinel.web.headers import SECURITY_HEADERS, answer_errors, security_headers


async def test_a_failing_handler_answers_500_with_headers_and_logs_no_path() -> None:
    async def broken(_: web.Request) -> web.Response:
        raise RuntimeError("boom")

    app = web.Application(middlewares=[answer_errors])
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/ack/{fingerprint}/{token}", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            with capture_logs() as logs:
                async with http.get(server.make_url("/ack/abc/secret-link-token")) as resp:
                    assert resp.status == 500
                    assert await resp.text() == "internal error (see the log)"
                    for name, value in SECURITY_HEADERS.items():
                        assert resp.headers[name] == value
    finally:
        await server.close()
    failed = [e for e in logs if e["event"] == "web_handler_failed"]
    assert len(failed) == 1
    assert failed[0]["route"] == "/ack/{fingerprint}/{token}"
    assert "secret-link-token" not in repr(logs)
