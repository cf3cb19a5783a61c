"""Inbound alerts (not built yet): alerts other systems send to sentinel, routed and
escalated like its own. One module per source: ``alertmanager`` (its webhook),
``grafana`` (its contact point), ``events`` (a PagerDuty Events v2-compatible
endpoint). Each turns a request into the same alert transitions the rule engine
makes, and hands them to the alert shell (:mod:`sentinel.app.alerts`) through
the daemon's wiring. See ../shared/DESIGN.md, "Layout".
"""
