"""Reports: uptime, latency, incidents and notifications over a period, for people.

``figures`` (the pure computations), ``build`` (reading the store), ``render``
(table, Markdown, JSON, notice summary), ``schedule`` (the cron-driven sender).
"""
