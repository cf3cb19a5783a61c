"""Routing: whether a firing alert is told to anyone now.

``silences`` (operator silences from the API), ``quiet`` (maintenance windows,
dependencies, inhibition, and ``why_quiet`` which asks them in order). Pure
functions of the config, the time and what is firing; the alert shell in
:mod:`sentinel.app.alerts` asks them.
"""
