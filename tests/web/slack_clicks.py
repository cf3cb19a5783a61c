"""Button clicks as Slack's interactivity posts them: a form-encoded ``payload`` of a
``block_actions`` JSON, signed v0 (HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the
app's signing secret) as Slack's "Verifying requests from Slack" describes. The
signature is computed here by hand (hmac), not with the SignatureVerifier sentinel
uses, so the two are checked against each other."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp


def payload(
    action: str, value: str, user: str, channel: str = "C0OPS", ts: str = "1.000001"
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "team": {"id": "T0TEAM", "domain": "example"},
        "channel": {"id": channel, "name": "ops"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "message": {"type": "message", "ts": ts, "text": "alert"},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/xyz",
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": action,
                "block_id": "sentinel_answer",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def body_of(data: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(data)}).encode()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def click(
    url: str,
    body: bytes,
    secret: str | None,
    timestamp: int | None = None,
    signature: str | None = None,
) -> int:
    """POST as Slack does; ``secret`` None sends no signature headers at all."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if secret is not None:
        headers["X-Slack-Request-Timestamp"] = str(ts)
        headers["X-Slack-Signature"] = signature or sign(secret, body, ts)
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        await r.read()
        return r.status
