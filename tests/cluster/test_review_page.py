"""Review of the status page of a cluster member with hostile names: a member id and
location (``SENTINEL_MEMBER_ID``, ``SENTINEL_LOCATION``) holding markup are shown as
text in the members table and in "probed by", never as markup, and nothing of the
storage URL shows. One member in this process on this run's PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import structlog

from sentinel.app.daemon import Daemon
from sentinel.clock import SystemClock
from sentinel.config import load_config
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from tests.conftest import Target
from tests.web.test_page import base_url

HOSTILE_ID = 'm"><script>alert(1)</script>'
HOSTILE_LOCATION = "<img src=x onerror=alert(2)>"


async def test_hostile_member_names_are_escaped_and_no_url_shows(
    tmp_path: Path, target: Target, postgres_url: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        f"""
server:
  listen: "127.0.0.1:0"
storage:
  url: "{postgres_url}"
checks:
  - {{name: api, type: http, url: "{target.url}/health", interval: 1s, timeout: 1s}}
"""
    )
    config = load_config(path, {})
    settings = Settings(
        config=str(path), member_id=HOSTILE_ID, location=HOSTILE_LOCATION, cluster_lease=6.0
    )
    daemon = Daemon(config, settings, SystemClock(), {}, Redactor())
    await daemon.start()
    try:
        html = ""
        async with aiohttp.ClientSession(base_url(daemon)) as http:
            for _ in range(150):  # bounded: 30 s
                async with http.get("/") as resp:
                    assert resp.status == 200
                    html = await resp.text()
                if 'class="member"' in html and "probed by" in html:
                    break
                await asyncio.sleep(0.2)
            async with http.get("/api/v1/cluster") as resp:
                cluster = await resp.text()
            async with http.get("/api/v1/status") as resp:
                status = await resp.text()
    finally:
        await daemon.stop()
        structlog.reset_defaults()
    assert 'class="member"' in html
    assert "probed by" in html
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    secret = postgres_url.split("@")[0]
    for text in (html, cluster, status):
        assert secret not in text
        assert "search_path" not in text
