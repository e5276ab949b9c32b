"""Feed health reaches the store through the store sink's writer and shows in /v1/health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.reads.ops import store_health
from connectors.store.engine import open_store
from connectors.store.feed_health import recent_events
from connectors.store.sink import StoreWriter
from schemas.market import FeedCounters, FeedHealth

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def report(seconds: int, status: str, event: str, **counters: int) -> FeedHealth:
    return FeedHealth(
        source="binance",
        symbol="BTC/USDT",
        status=status,
        ts=T0 + timedelta(seconds=seconds),
        event=event,
        counters=FeedCounters(**counters),
    )


def test_transitions_and_counters_are_stored_and_shown() -> None:
    engine = open_store("sqlite://")
    reports = [
        report(0, "live", "heartbeat", messages=10),
        report(5, "disconnected", "status", messages=12),
        report(6, "catching_up", "status", messages=12, reconnects=1),
        report(
            8,
            "live",
            "gap filled 100..140",
            messages=60,
            reconnects=1,
            gaps_filled=1,
            rows_backfilled=41,
        ),
        report(
            13, "live", "heartbeat", messages=80, reconnects=1, gaps_filled=1, rows_backfilled=41
        ),
    ]
    writer = StoreWriter("live-1")
    writer.write(engine, reports)
    writer.write(engine, reports[:2])  # a replayed, older batch changes nothing
    with engine.connect() as conn:
        health = store_health(conn, now=T0 + timedelta(seconds=20), stale_bars=3.0)
        events = recent_events(conn)
    [connection] = health.connections
    assert (connection.status, connection.reported_at) == ("live", T0 + timedelta(seconds=13))
    assert connection.counters["reconnects"] == 1
    assert connection.counters["rows_backfilled"] == 41
    assert [(e["status"], e["event"]) for e in events] == [
        ("live", "gap filled 100..140"),
        ("catching_up", "status"),
        ("disconnected", "status"),
    ]
