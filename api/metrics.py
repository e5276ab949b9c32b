"""Prometheus metrics: the store's counters read at scrape time, plus request latency.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (no global state, so
several apps live in one process, as in tests). :class:`StoreCollector` reads the store on
every scrape: records in, dead letters by reason, late trades, fused signals by decision
band, the review queue, stored candles and feed lag. :class:`RequestMetrics` times every
request by route template (never the raw path, which would explode the label set).

>>> from prometheus_client import generate_latest
>>> from connectors.store.engine import open_store
>>> metrics = Metrics(open_store("sqlite://"), now=lambda: datetime(2022, 1, 1, tzinfo=UTC))
>>> metrics.requests.observe("GET", "/v1/health", 200, 0.004)
>>> text = generate_latest(metrics.registry).decode()
>>> "quorum_records_in_total 0.0" in text, 'route="/v1/health"' in text
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from api.reads import ops

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StoreCollector(Collector):
    """Counts from the store, read when Prometheus scrapes."""

    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self._engine = engine
        self._now = now

    def collect(self) -> Iterator[Metric]:
        with self._engine.connect() as conn:
            records = ops.records_in(conn)
            letters = ops.dead_letter_counts(conn)
            late = ops.late_trade_counts(conn)
            decisions = ops.decision_counts(conn)
            reviews = ops.review_counts(conn)
            candles = ops.candle_counts(conn)
            feeds = ops.feed_health(conn, now=self._now(), stale_bars=1.0)
        yield CounterMetricFamily(
            "quorum_records_in", "Records read by finished runs (trades and candles)", records
        )
        dead = CounterMetricFamily(
            "quorum_dead_letters", "Records dead-lettered, by reason", labels=["reason"]
        )
        for reason, n in letters.items():
            dead.add_metric([reason], n)
        yield dead
        late_family = CounterMetricFamily(
            "quorum_late_trades", "Trades that arrived behind the watermark", labels=["symbol"]
        )
        for symbol, n in late.items():
            late_family.add_metric([symbol], n)
        yield late_family
        bands = CounterMetricFamily(
            "quorum_fused_signals", "Fused signals by decision band", labels=["decision"]
        )
        for decision in ("open", "review", "ignore"):
            bands.add_metric([decision], decisions.get(decision, 0))
        yield bands
        queue = GaugeMetricFamily(
            "quorum_review_queue", "Review items by status", labels=["status"]
        )
        for status in ("pending", "approved", "rejected", "expired"):
            queue.add_metric([status], reviews.get(status, 0))
        yield queue
        stored = GaugeMetricFamily(
            "quorum_candles_stored", "Candles in the store", labels=["symbol", "timeframe"]
        )
        for (symbol, timeframe), n in sorted(candles.items()):
            stored.add_metric([symbol, timeframe], n)
        yield stored
        lag = GaugeMetricFamily(
            "quorum_feed_lag_seconds",
            "Seconds since the last candle of the series closed",
            labels=["symbol", "timeframe"],
        )
        for feed in feeds:
            lag.add_metric([feed.symbol, feed.timeframe], feed.lag_seconds)
        yield lag


class RequestMetrics:
    """Request latency by method, route template and status; refusals by reason."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "quorum_api_request_duration_seconds",
            "Time to answer an API request (until the response starts for streams)",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.refused = Counter(
            "quorum_api_refused_requests",
            "Requests refused before reaching a route: unauthorized, forbidden, rate_limited",
            ["reason"],
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route, str(status)).observe(seconds)


class Metrics:
    """The registry of one app: store collector plus request metrics."""

    def __init__(self, engine: Engine, now: Callable[[], datetime] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(engine, now or (lambda: datetime.now(UTC))))
        self.requests = RequestMetrics(self.registry)
