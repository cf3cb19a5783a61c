"""What a notification says about an alert: its facts, taken when it is sent.

The rule's ``summary`` and ``description`` are Jinja templates over the
alert (``check``, ``rule``, ``value``, ``error``, ``labels``, ``severity``),
rendered in a sandbox: a config cannot reach Python objects through them, and
a template that fails renders as its own text rather than losing the page.
"""

from __future__ import annotations

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from sentinel.config.rule import Rule
from sentinel.notify.base import AlertFacts
from sentinel.sources.external import External

_env = SandboxedEnvironment(autoescape=False)


def render_text(template: str, context: dict[str, object]) -> str:
    if "{" not in template:
        return template
    try:
        return _env.from_string(template).render(**context)
    except TemplateError:
        return template


def alert_facts(
    *,
    fingerprint: str,
    rule: Rule | None,
    rule_name: str,
    check: str,
    labels: dict[str, str],
    value: float | None,
    error: str | None,
    fired_at: float | None,
    ack_url: str | None,
    oncall: str | None,
) -> AlertFacts:
    severity = rule.severity if rule is not None else "high"
    context: dict[str, object] = {
        "check": check,
        "rule": rule_name,
        "value": value,
        "error": error or "",
        "labels": labels,
        "severity": severity,
    }
    summary = render_text(rule.summary, context) if rule and rule.summary else ""
    if not summary:
        summary = f"{rule_name} on {check}" + (f": {error}" if error else "")
    return AlertFacts(
        fingerprint=fingerprint,
        rule=rule_name,
        check=check,
        severity=severity,
        summary=summary,
        description=render_text(rule.description, context) if rule else "",
        value=value,
        labels=dict(labels),
        reason=error,
        since=fired_at,
        runbook=rule.runbook if rule else None,
        ack_url=ack_url,
        ack_ref=fingerprint[:6],
        oncall=oncall,
    )


def external_facts(
    alert: External, labels: dict[str, str], ack_url: str | None, oncall: str | None
) -> AlertFacts:
    """An inbound alert's facts: its sender's summary, description, runbook and link
    (generatorURL) as sent; never rendered as templates (they are the sender's text)."""
    summary = alert.summary or f"{alert.rule} from {alert.source}"
    description = alert.description
    if alert.link:
        description = f"{description}\n\nSource: {alert.link}".strip()
    return AlertFacts(
        fingerprint=alert.fingerprint,
        rule=alert.rule,
        check=alert.source,
        severity=alert.severity,
        summary=summary,
        description=description,
        labels=dict(labels),
        since=alert.state.fired_at,
        runbook=alert.runbook,
        ack_url=ack_url,
        ack_ref=alert.fingerprint[:6],
        oncall=oncall,
    )
