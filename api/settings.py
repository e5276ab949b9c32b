"""What an API instance is configured with: its store, limits and clocks (injectable)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiSettings:
    """Settings of one app.

    >>> ApiSettings(store="out/q.sqlite").rate_per_second
    20.0
    """

    store: str = "quorum.sqlite"
    """Store file or SQLAlchemy URL (the flow's store)."""
    rate_capacity: float = 120.0
    """Burst: requests a key may make at once."""
    rate_per_second: float = 20.0
    """Sustained requests per second per key."""
    stream_poll_seconds: float = 1.0
    """How often a live stream looks for new fused signals."""
    stream_max_seconds: float = 600.0
    """A stream closes after this long; the client reconnects with Last-Event-ID."""
    stream_batch: int = 200
    """Fused signals read per poll."""
    stale_bars: float = 3.0
    """A feed is stale after this many bar lengths without a closed candle."""
    rate_limit_storage: str | None = None
    """Shared rate-limit storage (a ``limits`` URI, e.g. ``redis://127.0.0.1:6379/0``) for
    several API replicas; None: each process keeps its own buckets."""
    config: str | None = None
    """The run configuration file (YAML) the control room validates changes against (the
    flows' ``--config``); None: the shipped defaults."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (CORS); empty: CORS is off."""
    monotonic: Callable[[], float] = field(default=time.monotonic)
    """Clock of the rate limiter and stream deadlines (seconds)."""
    now: Callable[[], datetime] = field(default=utc_now)
    """Wall clock for audit records and feed lag."""
