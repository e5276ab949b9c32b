"""Operational reads: feed health, dead letters, late data, counts for the metrics.

A feed is one ``(symbol, timeframe)`` candle series; its *lag* is the time since its last
candle closed, and it is *stale* when that exceeds ``stale_bars`` bar lengths (a replay of
old data is stale by this measure: health speaks about live feeds).

>>> from datetime import UTC, datetime
>>> from connectors.store.engine import open_store
>>> from connectors.store.market import write_candles
>>> from schemas.batches import CandleBatch
>>> engine = open_store("sqlite://")
>>> _ = write_candles(engine, [CandleBatch.from_columns("A/B", "1m", [0], [1.0], [1.0], [1.0],
...                                                    [1.0], [2.0])])
>>> with engine.connect() as conn:
...     health = store_health(conn, now=datetime(1970, 1, 1, 0, 3, tzinfo=UTC), stale_bars=3)
>>> health.status, health.feeds[0].lag_seconds, health.feeds[0].stale
('ok', 120.0, False)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from api.models import DeadLetterCount, FeedConnection, FeedHealth, HealthOut
from api.reads.trading import recent_runs
from connectors.store.feed_health import latest_status
from connectors.store.market import candles, dead_letters, late_trades, latest_candle_per_symbol
from connectors.store.market import runs as runs_table
from connectors.store.signals import fused_signals, review_queue
from schemas.common import Timeframe, datetime_to_ns, ns_to_datetime


def _grouped(conn: Connection, column: Any) -> dict[str, int]:
    stmt = select(column, func.count()).group_by(column).order_by(column)
    return {str(key): int(n) for key, n in conn.execute(stmt)}


def dead_letter_counts(conn: Connection) -> dict[str, int]:
    """Dead letters by reason."""
    return _grouped(conn, dead_letters.c.reason)


def late_trade_counts(conn: Connection) -> dict[str, int]:
    """Late trades by symbol."""
    return _grouped(conn, late_trades.c.symbol)


def decision_counts(conn: Connection) -> dict[str, int]:
    """Fused signals by decision band."""
    return _grouped(conn, fused_signals.c.decision)


def review_counts(conn: Connection) -> dict[str, int]:
    """Review items by status."""
    return _grouped(conn, review_queue.c.status)


def candle_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Stored candles by (symbol, timeframe)."""
    stmt = select(candles.c.symbol, candles.c.timeframe, func.count()).group_by(
        candles.c.symbol, candles.c.timeframe
    )
    return {(s, tf): int(n) for s, tf, n in conn.execute(stmt)}


def records_in(conn: Connection) -> int:
    """Records the finished runs read (``records_in`` of their summaries)."""
    stmt = select(runs_table.c.summary).where(runs_table.c.finished_at.is_not(None))
    total = 0
    for (summary,) in conn.execute(stmt):
        value = (summary or {}).get("records_in") if isinstance(summary, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            total += value
    return total


def running_runs(conn: Connection) -> list[str]:
    """Runs started and not finished, oldest first."""
    stmt = (
        select(runs_table.c.run_id)
        .where(runs_table.c.finished_at.is_(None))
        .order_by(runs_table.c.started_at)
    )
    return [str(r) for r in conn.execute(stmt).scalars()]


def feed_health(conn: Connection, *, now: datetime, stale_bars: float) -> list[FeedHealth]:
    """Lag and staleness of every candle series (by symbol, shortest bar first)."""
    now_ns = datetime_to_ns(now)
    feeds: list[tuple[tuple[str, int], FeedHealth]] = []
    for row in latest_candle_per_symbol(conn).iter_rows(named=True):
        try:
            bar_ns = Timeframe.parse(row["timeframe"]).ns
        except ValueError:  # a timeframe this version does not know: show it, never stale
            bar_ns = 0
        open_ns = datetime_to_ns(row["ts"])
        close_ns = open_ns + bar_ns
        lag_ns = now_ns - close_ns
        close = row["close"]
        feed = FeedHealth(
            symbol=row["symbol"],
            timeframe=row["timeframe"],
            last_open=ns_to_datetime(open_ns),
            last_close_time=ns_to_datetime(close_ns),
            close=None if close != close else close,  # NaN → null
            lag_seconds=lag_ns / 1e9,
            stale=bar_ns > 0 and lag_ns > stale_bars * bar_ns,
        )
        feeds.append(((row["symbol"], bar_ns), feed))
    return [feed for _, feed in sorted(feeds, key=lambda pair: pair[0])]


def store_health(conn: Connection, *, now: datetime, stale_bars: float) -> HealthOut:
    """Everything the health endpoint and the feed-health page show."""
    feeds = feed_health(conn, now=now, stale_bars=stale_bars)
    letters = dead_letter_counts(conn)
    if not feeds:
        status = "empty"
    elif any(f.stale for f in feeds):
        status = "degraded"
    else:
        status = "ok"
    last = recent_runs(conn, 1)
    connections = [
        FeedConnection(
            reported_at=ns_to_datetime(row["ts"]),
            **{k: v for k, v in row.items() if k != "ts"},
        )
        for row in latest_status(conn)
    ]
    return HealthOut(
        status=status,
        checked_at=now,
        feeds=feeds,
        connections=connections,
        dead_letters=sum(letters.values()),
        dead_letters_by_reason=[DeadLetterCount(reason=r, count=n) for r, n in letters.items()],
        late_trades=sum(late_trade_counts(conn).values()),
        running=running_runs(conn),
        last_run=last[0] if last else None,
    )
