"""Service levels: feed uptime over a window and latency percentiles (pure cores)."""

from operators.sla.uptime import FeedUptime, LatencyWindow, uptime_of

__all__ = ["FeedUptime", "LatencyWindow", "uptime_of"]
