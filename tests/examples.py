"""The example configs and the environment their ${VAR}s need in tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
PROJECT_EXAMPLE = ROOT / "config" / "sentinel.example.yaml"
EXAMPLE_ENV = {
    name: f"secret-{name.lower()}-value"
    for name in (
        "SENTINEL_API_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "PAGERDUTY_ROUTING_KEY",
        "SENDGRID_API_KEY",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "ALERTMANAGER_TOKEN",
        "GRAFANA_WEBHOOK_PASSWORD",
        "SENTRY_ROUTING_KEY",
    )
} | {  # addresses are parsed when the config loads: these hold a secret inside a valid URL
    "DATABASE_URL": "postgresql://sentinel:secret-database_url-value@db.internal:5432/app",
    "REDIS_URL": "redis://:secret-redis_url-value@cache.internal:6379/0",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/secret-slack_webhook_url-value",
    "TEAMS_WEBHOOK_URL": "https://prod.westeurope.logic.azure.com/workflows/1/triggers/manual"
    "/paths/invoke?api-version=2016-06-01&sig=secret-teams_webhook_url-value",
    "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/secret-discord_webhook_url-value",
    "MATTERMOST_WEBHOOK_URL": "https://chat.example.com/hooks/secret-mattermost_webhook_url-value",
}
