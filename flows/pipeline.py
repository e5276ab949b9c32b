"""The Quorum dataflow, declared once and fed by any source.

``build_flow`` wires, per symbol and on batches::

    source ─► split ─► validate trades ─► candles 1m ─► roll-ups 5m/15m/1h/4h ─┐
                  └──► validate candles ─► roll-ups of coarser timeframes ─────┤
                                                                                ▼
         features (indicator banks) ─► signals (rules · statistics · river) ─► fusion
                                                                                ▼
                           risk guards ─► sizing ─► paper execution ─► store + audit chain
                                                                    + billing metering

Every bad record on the way goes to the dead-letter stream with its reason; late trades go to
their own stream; everything lands in the store through one idempotent sink. The same flow runs
a backtest (replay source) and live (exchange sources): no second code path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import KeyedStream
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.replay import split_market_data
from flows.config import QuorumConfig
from flows.summary import RunStats
from operators.audit.events import audit_trail
from operators.candles.minute import LateTrades
from operators.candles.ops import build_candles, roll_up
from operators.control.operators import control_plane
from operators.control.settings import ControlBase
from operators.divergence import DataQualityEvent
from operators.execution.operator import trading_core
from operators.features import compute_features
from operators.fusion import fuse
from operators.signals import dead_letters_of, generate_signals, signals_of
from operators.signals.text.wiring import add_text_source
from operators.validation.ops import ValidationTally, validate_candles, validate_trades
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import Timeframe
from schemas.control import ControlUpdate
from schemas.market import BookTop, FeedHealth
from schemas.records import DeadLetter, QualityFlag
from schemas.signals import FusedSignal, Signal
from schemas.trading import Fill, Order, OrderStatus

Stage = Literal["features", "signals", "full"]


class _CollectPartition(StatelessSinkPartition[Any]):
    def __init__(self, into: Callable[[list[Any]], None]) -> None:
        self._into = into

    def write_batch(self, items: list[Any]) -> None:
        self._into(items)


class CallbackSink(DynamicSink[Any]):
    """Hands every batch of items to a Python callable (in-process runs: summaries, exports)."""

    def __init__(self, into: Callable[[list[Any]], None]) -> None:
        self._into = into

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CollectPartition:
        return _CollectPartition(self._into)


@dataclass
class FlowOutputs:
    """Where the flow's streams go: the store sink and optional in-process collectors."""

    store: DynamicSink[Any] | None = None
    audit: Any = None
    """Audit-chain sink (``AuditChainSink``); receives the audited records of the full flow."""
    metering: DynamicSink[Any] | None = None
    """Billing metering sink (``MeteringSink``); receives the fused signals of the full flow."""
    collect: Callable[[list[Any]], None] | None = None
    kafka: Any = None
    """Kafka sink (``connectors.kafka.sink.KafkaSink``): every record, one topic per kind."""
    notify: DynamicSink[Any] | None = None
    """Notification sink (``connectors.notify.sink.NotifySink``): reviews, state, feeds, fills."""
    metrics: DynamicSink[Any] | None = None
    """Prometheus metrics sink (``connectors.prometheus.sink.MetricsSink``)."""
    timeseries: DynamicSink[Any] | None = None
    """Time-series sink (``connectors.questdb.sink.QuestDBSink``): candles, features, signals,
    fused signals, fills and equity."""
    stats: RunStats | None = None
    tally: ValidationTally = field(default_factory=ValidationTally)


def _is_side_item(item: Any) -> bool:
    """Quotes, feed-health and data-quality records of live sources: for the trading core, not
    the candles."""
    return isinstance(item, BookTop | FeedHealth | DataQualityEvent)


def _wanted(timeframes: tuple[Timeframe, ...]) -> Callable[[CandleBatch], bool]:
    """The configured timeframes; daily and weekly candles of daily input always pass (no
    configured intraday timeframe can be built from them)."""

    def wanted(batch: CandleBatch) -> bool:
        return len(batch) > 0 and (batch.timeframe in timeframes or not batch.timeframe.intraday)

    return wanted


def _is_control_update(item: Any) -> bool:
    return isinstance(item, ControlUpdate)


def _unkey(item: tuple[str, Any]) -> Any:
    return item[1]


def _count_into(stats: RunStats) -> Callable[[list[Any]], None]:
    def count(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, CandleBatch):
                stats.count(f"candles:{item.timeframe.value}", len(item))
            elif isinstance(item, FeatureBatch):
                stats.count(f"features:{item.timeframe.value}", len(item))
            elif isinstance(item, DeadLetter):
                stats.count(f"dead:{item.reason}")
            elif isinstance(item, QualityFlag):
                stats.count(f"flagged:{item.reason}")
            elif isinstance(item, LateTrades):
                stats.count("late:trades", len(item))
            elif isinstance(item, Signal):
                stats.count(f"signals:{item.origin}")
            elif isinstance(item, FusedSignal):
                stats.count(f"decisions:{item.decision.value}")
            elif isinstance(item, Order):
                if item.status is OrderStatus.NEW:  # one count per order, not per update
                    stats.count("orders:placed")
            elif isinstance(item, Fill):
                stats.count("fills:all")

    return count


def build_flow(
    source: Source[Any],
    *,
    config: QuorumConfig,
    outputs: FlowOutputs,
    stage: Stage = "full",
    flow_id: str = "quorum",
    manual_actions: Source[Any] | None = None,
    venue_reports: Source[Any] | None = None,
) -> Dataflow:
    """Declare the whole flow over ``source`` (replay or live: same items, same steps).

    ``source`` emits ``TradeBatch`` / ``CandleBatch`` (one symbol each) and ``DeadLetter``
    items. ``stage`` stops the flow early (``features`` for ``quorum features``).
    ``manual_actions`` (live runs) feeds people's decisions, e.g. approved reviews from
    :class:`~connectors.store.inbox.ManualActionInbox`, into the trading core, and the control
    room's versions into a control step (:mod:`operators.control`) that hands the settings in
    force to the signal engines, fusion and the trading core;
    ``venue_reports`` (``trading.mode: live``) feeds the venues' acknowledgements and fills
    (:class:`~connectors.ccxt_router.VenueReportSource`) into it.
    """
    flow = Dataflow(flow_id)
    source_items = op.input("source", flow, source)
    items = op.branch("side_items", source_items, _is_side_item)
    market = split_market_data("split", items.falses)
    timeframes = config.candles.timeframes
    minute_targets = [tf for tf in timeframes if tf is not Timeframe.M1]

    trades = validate_trades(
        "validate_trades", market.trades, config.validation, outputs.tally, config.instruments
    )
    from_trades = build_candles(
        "candles",
        trades.valid,
        minute_targets,
        allowed_lateness_ns=config.candles.allowed_lateness_ms * 1_000_000,
        fill_empty=config.candles.fill_empty_minutes,
        instruments=config.instruments,
    )
    candles_in = validate_candles(
        "validate_candles", market.candles, config.validation, outputs.tally, config.instruments
    )
    rolled = roll_up("rollup_input", candles_in.valid, timeframes, instruments=config.instruments)
    candles = op.merge("all_candles", from_trades.candles, candles_in.valid, rolled.candles)
    candles = op.filter_value("wanted_timeframes", candles, _wanted(timeframes))
    computed = compute_features("features", candles, config.feature_names())
    features = computed.features

    dead: Stream[Any] = op.merge(
        "dead_letters",
        market.dead,
        trades.dead,
        candles_in.dead,
        op.map("candle_dead", from_trades.dead, _unkey),
        op.map("rollup_dead", rolled.dead, _unkey),
        op.map("features_dead", computed.dead, _unkey),
    )
    late = op.map("late", from_trades.late, _unkey)
    candle_records = op.map("candles_out", candles, _unkey)
    feature_records = op.map("features_out", features, _unkey)
    records = [
        candle_records,
        feature_records,
        dead,
        late,
        # live feeds' status, transitions and counters, for /v1/health and the dashboard
        op.filter("feed_health", items.trues, lambda item: isinstance(item, FeedHealth)),
        trades.flags,
    ]
    if stage != "features":
        actions = (
            None if manual_actions is None else op.input("manual_actions", flow, manual_actions)
        )
        if venue_reports is not None:
            reports = op.input("venue_reports", flow, venue_reports)
            actions = (
                reports if actions is None else op.merge("people_and_venues", actions, reports)
            )
        market_records = (candle_records, feature_records)
        records.extend(
            _decision_streams(features, market_records, config, stage, actions, items.trues)
        )
    everything = op.merge("records", *records)
    if outputs.stats is not None:
        op.output("count", everything, CallbackSink(_count_into(outputs.stats)))
    if outputs.store is not None:
        op.output("store", _late_records(everything), outputs.store)
    if outputs.audit is not None and stage == "full":
        audit_trail("audit", everything, outputs.audit)
    if outputs.metering is not None and stage == "full":
        fused = op.filter("fused_only", everything, lambda item: isinstance(item, FusedSignal))
        op.output("metering", fused, outputs.metering)
    if outputs.collect is not None:
        op.output("collect", everything, CallbackSink(outputs.collect))
    if outputs.notify is not None:
        op.output("notify", everything, outputs.notify)
    if outputs.metrics is not None:
        from connectors.prometheus.metrics import input_counts

        op.output("metrics", everything, outputs.metrics)
        inputs = op.flat_map("input_counts", source_items, input_counts)
        op.output("metrics_inputs", inputs, outputs.metrics)
    if outputs.timeseries is not None:
        from connectors.questdb.rows import TIMESERIES_TYPES

        series = op.filter("timeseries_only", everything, lambda i: isinstance(i, TIMESERIES_TYPES))
        op.output("timeseries", series, outputs.timeseries)
    if outputs.kafka is not None:  # live quotes are published too (feed health is a record)
        from connectors.kafka.sink import publish

        quotes = op.filter("quotes", items.trues, lambda item: isinstance(item, BookTop))
        publish("kafka", op.merge("kafka_records", everything, quotes), outputs.kafka)
    return flow


def _late_records(stream: Stream[Any]) -> Stream[Any]:
    """The store takes ``LateTrade`` records; the candle builder emits ``LateTrades`` batches."""

    def explode(item: Any) -> list[Any]:
        if isinstance(item, LateTrades):
            return item.to_records()
        return [item]

    return op.flat_map("late_records", stream, explode)


def _decision_streams(
    features: KeyedStream[FeatureBatch],
    market_records: tuple[Stream[CandleBatch], Stream[FeatureBatch]],
    config: QuorumConfig,
    stage: Stage,
    manual_actions: Stream[Any] | None = None,
    side_items: Stream[Any] | None = None,
) -> list[Stream[Any]]:
    """Signals and fusion (``signals``), then risk, sizing and paper execution (``full``).

    The trading core re-emits every fused signal in its processing order (the audit order), so
    in the full flow the fused stream reaches the outputs through it, once. It reads the
    candles and features as the records stream carries them (``market_records``, unkeyed).
    """
    controls = None
    if manual_actions is not None:  # the control room's versions ride the people's inbox
        split = op.branch("control_updates", manual_actions, _is_control_update)
        manual_actions = split.falses
        controls = control_plane("control", split.trues, features, ControlBase.of(config))
    per_symbol = None if controls is None else controls.per_symbol
    batches = generate_signals("signals", features, config.signals, per_symbol)
    text = add_text_source(features.flow(), batches, config)
    fusion = fuse("fusion", text.batches, config.fusion, per_symbol)
    timeline = text.guard(fusion.timeline)
    streams = [
        signals_of("signal_records", text.batches),
        dead_letters_of("signal_dead", batches),
        fusion.reliability,
        *text.dead,
    ]
    if controls is not None:
        streams.append(controls.records)
    if stage != "full":
        return [*streams, op.filter("fused", timeline, lambda i: isinstance(i, FusedSignal))]
    inputs = [*market_records, timeline]
    if manual_actions is not None:
        inputs.append(manual_actions)
    if controls is not None:
        inputs.append(controls.trading)  # risk limits
    if side_items is not None:
        inputs.append(side_items)  # live quotes (spread, depth) and feed health (staleness)
    market = op.merge("trading_in", *inputs)
    return [*streams, trading_core("trading", market, config.portfolio_set())]
