"""Service levels: feed uptime over a window and latency percentiles (pure cores)."""

from operators.sla.uptime import FeedUptime, LatencyWindow

__all__ = ["FeedUptime", "LatencyWindow"]
