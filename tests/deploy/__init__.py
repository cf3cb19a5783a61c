"""Tests of deploy/: container image, Kubernetes, Prometheus rules, Grafana, compose."""
