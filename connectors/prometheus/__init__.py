"""Prometheus metrics from inside the running flow: a registry, the sink that feeds it, and the
HTTP endpoint (one per flow process)."""
