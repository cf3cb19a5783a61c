"""Reports: uptime, latency, incidents and notifications over a period, for people.

``figures`` (the pure computations), ``build`` (reading the store), ``render``
(table, Markdown, JSON, notice summary), ``schedule`` (the cron-driven sender).
``build_report`` is named here because web/api.py looks it up by this module's name.
"""

from sentinel.reports.build import build_report

__all__ = ["build_report"]
