"""A daemon on loopback with alert sources, paging a webhook fake: shared by the
HTTP tests and the real-Alertmanager test."""

from __future__ import annotations

import base64
from pathlib import Path

from sentinel.app.daemon import Daemon
from sentinel.clock import SystemClock
from sentinel.config import load_config, secret_values
from sentinel.config.settings import Settings
from sentinel.logs import Redactor

TOKEN = "am-bearer-7f3e2d1c0b9a"
GRAFANA_PASSWORD = "grafana-pass-5e4d3c2b"
ROUTING_KEY = "r0uting-key-1a2b3c4d5e6f7a8b"
API_TOKEN = "api-token-9a8b7c6d"
BASIC = "Basic " + base64.b64encode(f"grafana:{GRAFANA_PASSWORD}".encode()).decode()
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def config_text(
    tmp_path: Path, hook_url: str, *, listen: str = "127.0.0.1:0", events: bool = True
) -> str:
    text = f"""
server:
  listen: "{listen}"
  api_token: "{API_TOKEN}"
storage:
  url: "sqlite:{tmp_path}/state.db"
sources:
  - name: prom
    type: alertmanager
    token: "{TOKEN}"
    max_body: 64KiB
    routes:
      - {{match: {{team: db}}, escalation: dba}}
  - name: grafana
    type: grafana
    basic_auth: {{username: grafana, password: "{GRAFANA_PASSWORD}"}}
  - name: sentry
    type: events
    routing_key: "{ROUTING_KEY}"
channels:
  hook: {{type: webhook, url: "{hook_url}"}}
  dba-hook: {{type: webhook, url: "{hook_url.replace("/main", "/dba")}"}}
escalation:
  critical:
    - {{after: 0s, notify: [hook]}}
    - {{after: 2s, notify: [hook]}}
  high:
    - {{after: 0s, notify: [hook]}}
  medium:
    - {{after: 0s, notify: [hook]}}
  low:
    - {{after: 0s, notify: [hook]}}
  policies:
    dba:
      - {{after: 0s, notify: [dba-hook]}}
"""
    if not events:
        text = text.replace(
            f'  - name: sentry\n    type: events\n    routing_key: "{ROUTING_KEY}"\n', ""
        )
    return text


async def start_daemon(path: Path) -> Daemon:
    config = load_config(path, {})
    redactor = Redactor()
    redactor.set_secrets(secret_values(config))
    daemon = Daemon(config, Settings(config=str(path)), SystemClock(), {}, redactor)
    await daemon.start()
    return daemon
