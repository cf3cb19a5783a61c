"""sentinel: probes services, turns results into alerts, and escalates until someone acknowledges."""

__version__ = "0.1.0"
