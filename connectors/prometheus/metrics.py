"""What a running flow exposes to Prometheus, fed from the records it outputs.

Names follow Prometheus conventions (``quorum_`` prefix, ``_total`` counters, base units:
seconds, ratios in 0..1, money in the portfolio's quote currency). Labels are bounded: symbols
and timeframes come from the configuration, reasons and origins from enums and the configured
generators; nothing is labelled per signal, order or fill.

Event-age histograms and watermark lag compare event time with the wall clock, so they are only
recorded for live runs (a backtest's event times are years old); so are the per-stage latencies
(:mod:`operators.sla.stages`: trade → candle … order → fill). Input rows are counted per source
and kind from the source's own stream (:func:`input_counts`).

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from schemas.records import DeadLetter
>>> m = FlowMetrics(CollectorRegistry())
>>> m.observe([DeadLetter(source="file", reason="non_positive_price", detail="price=-1",
...                       raw="{}")])
>>> b'quorum_dead_letters_total{reason="non_positive_price"} 1.0' in generate_latest(m.registry)
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from operators.candles.minute import LateTrades
from operators.sla.breaches import BreachWatch
from operators.sla.stages import StageLatencies
from operators.sla.uptime import FeedUptime, LatencyWindow
from schemas.batches import CandleBatch, FeatureBatch, TradeBatch
from schemas.common import NS_PER_SECOND, datetime_to_ns, ns_to_datetime
from schemas.market import BookTop, FeedHealth, FeedStatus
from schemas.operations import EquityPoint, SlaBreach, TradingStateChange
from schemas.records import DeadLetter
from schemas.signals import FusedSignal, Signal
from schemas.trading import Fill, Order, OrderIntent, OrderStatus, RiskDecision, TradingState

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

METRIC_NAMES = (
    "quorum_candles_total",
    "quorum_feature_rows_total",
    "quorum_signals_total",
    "quorum_fused_decisions_total",
    "quorum_dead_letters_total",
    "quorum_late_trades_total",
    "quorum_risk_decisions_total",
    "quorum_risk_refusals_total",
    "quorum_orders_total",
    "quorum_fills_total",
    "quorum_equity",
    "quorum_gross_exposure",
    "quorum_net_exposure",
    "quorum_open_positions",
    "quorum_drawdown_ratio",
    "quorum_trading_state",
    "quorum_feed_up",
    "quorum_feed_market_closed",
    "quorum_feed_uptime_ratio",
    "quorum_feed_reconnects",
    "quorum_feed_gaps_filled",
    "quorum_feed_rows_backfilled",
    "quorum_event_age_seconds",
    "quorum_watermark_lag_seconds",
    "quorum_stage_latency_seconds",
    "quorum_input_records_total",
    "quorum_kafka_messages_delivered_total",
    "quorum_kafka_delivery_errors_total",
    "quorum_kafka_producer_queue_messages",
)
"""Every metric family the flow exposes (the alert rules and dashboards may use only these)."""


@dataclass(frozen=True, slots=True)
class InputCount:
    """Rows one source item brought into the flow (what the metrics sink counts as input)."""

    source: str
    kind: str
    rows: int


def input_counts(item: Any) -> list[InputCount]:
    """The input rows of one source item: trade and candle batches, quotes (else none).

    >>> input_counts(TradeBatch.from_columns("X/Y", [1, 2], [1.0, 1.0], [1.0, 1.0], source="ws"))
    [InputCount(source='ws', kind='trades', rows=2)]
    """
    if isinstance(item, TradeBatch):
        return [InputCount(item.source, "trades", len(item))]
    if isinstance(item, CandleBatch):
        return [InputCount(item.source, "candles", len(item))]
    if isinstance(item, BookTop):
        return [InputCount(item.source, "quotes", 1)]
    return []


class FlowMetrics:
    """The flow's metric families on one registry, updated from output records."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        live: bool = False,
        uptime_window_s: float = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.live = live
        self._clock = clock
        self._uptime_window_s = uptime_window_s
        self._uptime: dict[tuple[str, str], FeedUptime] = {}
        self.fused_latency = LatencyWindow()
        """Ingestion → fused-signal latency of the last 10,000 decisions (live runs)."""
        self.stages = StageLatencies()
        self._watch: BreachWatch | None = None
        self._on_breach: Callable[[SlaBreach], None] | None = None
        self._check_every_s = 1.0
        self._checked_at = float("-inf")
        r = self.registry
        self.candles = Counter("quorum_candles", "Closed candles", ["timeframe"], registry=r)
        self.feature_rows = Counter(
            "quorum_feature_rows", "Feature rows computed", ["timeframe"], registry=r
        )
        self.signals = Counter("quorum_signals", "Signals by generator", ["origin"], registry=r)
        self.decisions = Counter(
            "quorum_fused_decisions", "Fused decisions by band", ["decision"], registry=r
        )
        self.dead = Counter("quorum_dead_letters", "Dead-lettered records", ["reason"], registry=r)
        self.late = Counter("quorum_late_trades", "Trades behind the watermark", registry=r)
        self.risk = Counter(
            "quorum_risk_decisions", "Pre-trade risk decisions", ["reason"], registry=r
        )
        self.refusals = Counter(
            "quorum_risk_refusals", "Entries refused by a guard", ["reason"], registry=r
        )
        self.orders = Counter("quorum_orders", "Order updates by status", ["status"], registry=r)
        self.fills = Counter("quorum_fills", "Fills", registry=r)
        self.equity = Gauge("quorum_equity", "Portfolio equity (quote currency)", registry=r)
        self.gross = Gauge("quorum_gross_exposure", "Σ |quantity| × mark", registry=r)
        self.net = Gauge("quorum_net_exposure", "Σ quantity × mark", registry=r)
        self.positions = Gauge("quorum_open_positions", "Open positions", registry=r)
        self.drawdown = Gauge(
            "quorum_drawdown_ratio", "Below the running peak of equity (0..1)", registry=r
        )
        self.state = Gauge(
            "quorum_trading_state", "1 for the current trading state", ["state"], registry=r
        )
        self.feed_up = Gauge(
            "quorum_feed_up", "1 while the feed is live", ["source", "symbol"], registry=r
        )
        self.market_closed = Gauge(
            "quorum_feed_market_closed",
            "1 while the symbol's market is closed by its calendar (silence is not an outage)",
            ["source", "symbol"],
            registry=r,
        )
        self.uptime = Gauge(
            "quorum_feed_uptime_ratio",
            "Share of the SLA window the feed was live (closed-market time left out)",
            ["source", "symbol"],
            registry=r,
        )
        self.reconnects = Gauge(
            "quorum_feed_reconnects", "Reconnects since start", ["source", "symbol"], registry=r
        )
        self.gaps = Gauge(
            "quorum_feed_gaps_filled", "Gaps filled from REST", ["source", "symbol"], registry=r
        )
        self.backfilled = Gauge(
            "quorum_feed_rows_backfilled", "Rows backfilled", ["source", "symbol"], registry=r
        )
        self.event_age = Histogram(
            "quorum_event_age_seconds",
            "Wall clock minus event time when a record leaves the flow (live runs)",
            ["stage"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.watermark_lag = Gauge(
            "quorum_watermark_lag_seconds",
            "Wall clock minus the close of the last candle (live runs)",
            ["symbol", "timeframe"],
            registry=r,
        )
        self.stage_latency = Histogram(
            "quorum_stage_latency_seconds",
            "Wall clock between a record leaving the flow and the record it derives from "
            "(live runs): trade_to_candle … order_to_fill",
            ["stage"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.inputs = Counter(
            "quorum_input_records", "Rows the sources brought in", ["source", "kind"], registry=r
        )
        self.kafka_delivered = Counter(
            "quorum_kafka_messages_delivered",
            "Messages the Kafka broker acknowledged (production profile)",
            ["topic"],
            registry=r,
        )
        self.kafka_errors = Counter(
            "quorum_kafka_delivery_errors",
            "Messages whose delivery failed after the producer's retries (the flow stops)",
            ["topic"],
            registry=r,
        )
        self.kafka_queue = Gauge(
            "quorum_kafka_producer_queue_messages",
            "Messages waiting in a Kafka producer's local queue (one per sink partition)",
            ["producer"],
            registry=r,
        )
        for state in TradingState:
            self.state.labels(state.value).set(1 if state is TradingState.ACTIVE else 0)

    def kafka_report(
        self, producer: str, delivered: Mapping[str, int], failed: Mapping[str, int], queued: int
    ) -> None:
        """A Kafka producer's news (see ``connectors.kafka.sink.ProducerObserver``).

        >>> from prometheus_client import CollectorRegistry
        >>> m = FlowMetrics(CollectorRegistry())
        >>> m.kafka_report("kafka-0", {"quorum.v1.fills": 3}, {}, 7)
        >>> m.kafka_report("kafka-0", {"quorum.v1.fills": 2}, {"quorum.v1.fills": 1}, 0)
        >>> sample = m.registry.get_sample_value
        >>> sample("quorum_kafka_messages_delivered_total", {"topic": "quorum.v1.fills"})
        5.0
        >>> sample("quorum_kafka_delivery_errors_total", {"topic": "quorum.v1.fills"})
        1.0
        >>> sample("quorum_kafka_producer_queue_messages", {"producer": "kafka-0"})
        0.0
        """
        for topic, n in delivered.items():
            self.kafka_delivered.labels(topic).inc(n)
        for topic, n in failed.items():
            self.kafka_errors.labels(topic).inc(n)
        self.kafka_queue.labels(producer).set(queued)

    def watch_sla(
        self,
        uptime_target: float,
        latency_p99_s: float,
        on_breach: Callable[[SlaBreach], None],
        every_s: float = 1.0,
    ) -> None:
        """Call ``on_breach`` for every SLA that goes below its target, checked at most every
        ``every_s`` seconds as records arrive, and once more by :meth:`check_sla`."""
        self._watch = BreachWatch(uptime_target, latency_p99_s)
        self._on_breach = on_breach
        self._check_every_s = every_s
        self._checked_at = float("-inf")

    def check_sla(self, now: float | None = None) -> None:
        """Tell the watcher's listener about SLAs that entered breach since the last check."""
        if self._watch is None or self._on_breach is None:
            return
        at = self._clock() if now is None else now
        self._checked_at = at
        p99 = self.fused_latency.percentile(99)
        stamp = ns_to_datetime(int(at * NS_PER_SECOND))
        for breach in self._watch.check(self.uptime_ratios(at), p99, stamp):
            self._on_breach(breach)

    def observe(self, items: Iterable[Any]) -> None:
        """Update the metrics from a batch of the flow's output records."""
        now = self._clock()
        for item in items:
            handler = _HANDLERS.get(type(item))
            if handler is not None:
                handler(self, item, now)
        if self._watch is not None and now - self._checked_at >= self._check_every_s:
            self.check_sla(now)

    def uptime_ratios(self, now: float | None = None) -> dict[str, float]:
        """``source/symbol`` → uptime over the SLA window (for reports and the store)."""
        at = self._clock() if now is None else now
        ratios = {f"{s}/{sym}": u.ratio(at) for (s, sym), u in self._uptime.items()}
        return {k: v for k, v in sorted(ratios.items()) if v is not None}

    def sla(self, uptime_target: float, latency_p99_s: float) -> dict[str, Any]:
        """Feed uptime per feed, fused-signal latency p50/p99, and which targets were missed."""
        uptime = self.uptime_ratios()
        p50, p99 = self.fused_latency.percentile(50), self.fused_latency.percentile(99)
        breaches = [
            f"feed {feed} uptime {r:.4f} < {uptime_target}"
            for feed, r in uptime.items()
            if r < uptime_target
        ]
        if p99 is not None and p99 > latency_p99_s:
            breaches.append(f"fused-signal latency p99 {p99:.3f} s > {latency_p99_s} s")
        figures: dict[str, Any] = {
            "feed_uptime": uptime,
            "breaches": breaches,
            "targets": {"feed_uptime": uptime_target, "fused_latency_p99_s": latency_p99_s},
        }
        if p50 is not None:
            figures["fused_latency_p50_s"] = round(p50, 6)
            figures["fused_latency_p99_s"] = round(p99, 6)
        return figures

    # --- one method per record type --------------------------------------------------------

    def _input(self, count: InputCount, now: float) -> None:
        self.inputs.labels(count.source, count.kind).inc(count.rows)

    def _candles(self, batch: CandleBatch, now: float) -> None:
        tf = batch.timeframe
        self.candles.labels(tf.value).inc(len(batch))
        if self.live and len(batch):
            close_s = int(batch.ts_ns[-1]) / NS_PER_SECOND + tf.seconds
            self.watermark_lag.labels(batch.symbol, tf.value).set(max(0.0, now - close_s))
            self.event_age.labels("candle").observe(max(0.0, now - close_s))
            to_candle = self.stage_latency.labels("trade_to_candle")
            for open_ns in batch.ts_ns.tolist():
                close_ns = open_ns + tf.ns
                to_candle.observe(self.stages.trade_to_candle(close_ns / NS_PER_SECOND, now))
                self.stages.candle(batch.symbol, tf.value, close_ns, now)

    def _features(self, batch: FeatureBatch, now: float) -> None:
        self.feature_rows.labels(batch.timeframe.value).inc(len(batch))

    def _signal(self, signal: Signal, now: float) -> None:
        self.signals.labels(signal.origin).inc()
        self._age("signal", signal.timestamp, now)
        if self.live:
            ts_ns = datetime_to_ns(signal.timestamp)
            tf = signal.timeframe.value
            self._stage("candle_to_signal", self.stages.signal(signal.asset, tf, ts_ns, now))

    def _fused(self, fused: FusedSignal, now: float) -> None:
        self.decisions.labels(fused.decision.value).inc()
        self._age("fused", fused.timestamp, now)
        if self.live:
            self.fused_latency.add(max(0.0, now - fused.timestamp.timestamp()))
            ts_ns = datetime_to_ns(fused.timestamp)
            latency = self.stages.fused(fused.fused_id, fused.asset, ts_ns, now)
            self._stage("signal_to_fused", latency)

    def _intent(self, intent: OrderIntent, now: float) -> None:
        if self.live and intent.fused_id is not None:
            self.stages.intent(intent.intent_id, intent.fused_id)

    def _dead(self, dead: DeadLetter, now: float) -> None:
        self.dead.labels(dead.reason).inc()

    def _late(self, late: LateTrades, now: float) -> None:
        self.late.inc(len(late))

    def _risk(self, decision: RiskDecision, now: float) -> None:
        self.risk.labels(decision.reason.value).inc()
        if not decision.approved:
            self.refusals.labels(decision.reason.value).inc()

    def _order(self, order: Order, now: float) -> None:
        self.orders.labels(order.status.value).inc()
        if order.status is OrderStatus.NEW:
            self._age("order", order.created_at, now)
            if self.live:
                latency = self.stages.order(order.order_id, order.intent_id, now)
                self._stage("fused_to_order", latency)

    def _fill(self, fill: Fill, now: float) -> None:
        self.fills.inc()
        self._age("fill", fill.ts, now)
        if self.live:
            self._stage("order_to_fill", self.stages.fill(fill.order_id, now))

    def _stage(self, stage: str, latency: float | None) -> None:
        if latency is not None:
            self.stage_latency.labels(stage).observe(latency)

    def _equity(self, point: EquityPoint, now: float) -> None:
        self.equity.set(float(point.equity))
        self.gross.set(float(point.gross_exposure))
        self.net.set(float(point.net_exposure))
        self.positions.set(point.open_positions)
        self.drawdown.set(point.drawdown_pct / 100)

    def _state(self, change: TradingStateChange, now: float) -> None:
        for state in TradingState:
            self.state.labels(state.value).set(1 if state is change.current else 0)

    def _health(self, health: FeedHealth, now: float) -> None:
        labels = (health.source, health.symbol)
        self.feed_up.labels(*labels).set(1 if health.status is FeedStatus.LIVE else 0)
        self.market_closed.labels(*labels).set(1 if health.status is FeedStatus.CLOSED else 0)
        uptime = self._uptime.setdefault(labels, FeedUptime(self._uptime_window_s))
        uptime.observe(health.status, health.ts.timestamp())
        ratio = uptime.ratio(max(now, health.ts.timestamp()))
        if ratio is not None:
            self.uptime.labels(*labels).set(ratio)
        counters = health.counters
        self.reconnects.labels(*labels).set(counters.reconnects)
        self.gaps.labels(*labels).set(counters.gaps_filled)
        self.backfilled.labels(*labels).set(counters.rows_backfilled)

    def _age(self, stage: str, ts: datetime, now: float) -> None:
        if self.live:
            self.event_age.labels(stage).observe(max(0.0, now - ts.timestamp()))


_HANDLERS: dict[type, Callable[[FlowMetrics, Any, float], None]] = {
    InputCount: FlowMetrics._input,
    OrderIntent: FlowMetrics._intent,
    CandleBatch: FlowMetrics._candles,
    FeatureBatch: FlowMetrics._features,
    Signal: FlowMetrics._signal,
    FusedSignal: FlowMetrics._fused,
    DeadLetter: FlowMetrics._dead,
    LateTrades: FlowMetrics._late,
    RiskDecision: FlowMetrics._risk,
    Order: FlowMetrics._order,
    Fill: FlowMetrics._fill,
    EquityPoint: FlowMetrics._equity,
    TradingStateChange: FlowMetrics._state,
    FeedHealth: FlowMetrics._health,
}
