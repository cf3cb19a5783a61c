"""The application: what puts the stages together.

``daemon`` (lifecycle and wiring only), ``alerts`` (the one alert shell:
transition -> persist -> routing -> escalation -> outbox, also used by
``sentinel simulate``), ``facade`` (what the web app reads and writes),
``watchdog`` (the dead man's switch). Nothing below ``app/`` imports it.
"""
