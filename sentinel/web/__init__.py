"""The HTTP face of sentinel: /metrics, /health, /ready and the API."""
