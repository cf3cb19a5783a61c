"""The example configs and the environment their ${VAR}s need in tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
PROJECT_EXAMPLE = ROOT / "config" / "sentinel.example.yaml"
EXAMPLE_ENV = {
    name: f"secret-{name.lower()}-value"
    for name in (
        "SENTINEL_API_TOKEN",
        "DATABASE_URL",
        "REDIS_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_WEBHOOK_URL",
        "PAGERDUTY_ROUTING_KEY",
        "SENDGRID_API_KEY",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
    )
}
