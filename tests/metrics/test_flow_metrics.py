"""The flow's Prometheus metrics: what each record moves, bounded labels, SLA figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from connectors.prometheus.metrics import METRIC_NAMES, FlowMetrics, input_counts
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import datetime_to_ns
from schemas.market import FeedCounters, FeedHealth
from schemas.operations import EquityPoint, TradingStateChange
from schemas.signals import Decision, Direction, FusedSignal, Signal
from schemas.trading import Fill, Order, OrderIntent, RiskDecision, RiskReason

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def metrics(now: datetime = T0, live: bool = True) -> FlowMetrics:
    return FlowMetrics(CollectorRegistry(), live=live, uptime_window_s=3600, clock=now.timestamp)


def value(m: FlowMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_every_documented_family_is_registered_and_nothing_else() -> None:
    m = metrics()
    families = {f.name for f in m.registry.collect()}
    # prometheus_client reports counters without their _total suffix
    documented = {n.removesuffix("_total") for n in METRIC_NAMES}
    assert families == documented


def health(status: str, second: int, reconnects: int = 0) -> FeedHealth:
    return FeedHealth(
        source="binance",
        symbol="BTC/USDT",
        status=status,
        ts=T0 + timedelta(seconds=second),
        event="status",
        counters=FeedCounters(reconnects=reconnects, gaps_filled=2, rows_backfilled=40),
    )


def test_feed_state_uptime_and_counters() -> None:
    m = metrics(now=T0 + timedelta(seconds=100))
    m.observe([health("live", 0), health("disconnected", 60), health("live", 80, reconnects=1)])
    labels = {"source": "binance", "symbol": "BTC/USDT"}
    assert value(m, "quorum_feed_up", **labels) == 1
    assert value(m, "quorum_feed_uptime_ratio", **labels) == pytest.approx(0.8)
    assert value(m, "quorum_feed_reconnects", **labels) == 1
    assert value(m, "quorum_feed_rows_backfilled", **labels) == 40
    sla = m.sla(uptime_target=0.99, latency_p99_s=1.0)
    assert sla["feed_uptime"] == {"binance/BTC/USDT": pytest.approx(0.8)}
    assert sla["breaches"] == ["feed binance/BTC/USDT uptime 0.8000 < 0.99"]


def test_equity_drawdown_state_and_guard_refusals() -> None:
    m = metrics()

    def point(equity: str, drawdown_pct: float) -> EquityPoint:
        return EquityPoint(
            ts=T0,
            equity=Decimal(equity),
            cash=Decimal(equity),
            realized_pnl=Decimal(0),
            unrealized_pnl=Decimal(0),
            fees_paid=Decimal(0),
            gross_exposure=Decimal("2500"),
            net_exposure=Decimal("-2500"),
            open_positions=1,
            drawdown_pct=drawdown_pct,
        )

    m.observe([point("100000", 0.0), point("110000", 0.0), point("99000", 10.0)])
    assert value(m, "quorum_equity") == 99_000
    assert value(m, "quorum_drawdown_ratio") == pytest.approx(0.1)
    assert value(m, "quorum_net_exposure") == -2500
    refused = RiskDecision(
        decision_id="d1",
        intent_id="i1",
        asset="BTC/USDT",
        approved=False,
        reason=RiskReason.STALE_DATA,
        trading_state="active",
        timestamp=T0,
    )
    m.observe([refused])
    assert value(m, "quorum_risk_refusals_total", reason="stale_data") == 1
    halt = TradingStateChange(
        previous="active", current="halted", cause="manual", detail="ops", timestamp=T0
    )
    m.observe([halt])
    assert value(m, "quorum_trading_state", state="halted") == 1
    assert value(m, "quorum_trading_state", state="active") == 0


def fused(at: datetime) -> FusedSignal:
    return FusedSignal(
        fused_id="f",
        asset="BTC/USDT",
        timestamp=at,
        score=0.1,
        direction=Direction.LONG,
        decision=Decision.IGNORE,
    )


def test_event_age_is_measured_live_only() -> None:
    live = metrics(now=T0 + timedelta(milliseconds=40))
    live.observe([fused(T0)])
    assert value(live, "quorum_event_age_seconds_count", stage="fused") == 1
    assert value(live, "quorum_event_age_seconds_bucket", stage="fused", le="0.05") == 1
    assert live.sla(0.99, 1.0)["fused_latency_p99_s"] == pytest.approx(0.04)
    replay = metrics(now=T0 + timedelta(days=900), live=False)
    replay.observe([fused(T0)])
    assert value(replay, "quorum_event_age_seconds_count", stage="fused") is None
    assert value(replay, "quorum_fused_decisions_total", decision="ignore") == 1


def test_each_stage_latency_links_a_record_to_the_one_it_derives_from() -> None:
    now = [T0.timestamp()]
    m = FlowMetrics(CollectorRegistry(), live=True, clock=lambda: now[0])
    close = T0 + timedelta(minutes=1)
    candles = CandleBatch.from_columns(
        "BTC/USDT", "1m", [datetime_to_ns(T0)], [1.0], [1.0], [1.0], [1.0], [1.0]
    )
    signal = Signal(
        signal_id="s1", asset="BTC/USDT", direction="long", confidence=0.7, timeframe="1m",
        origin="rules:rsi", timestamp=close, expires_at=close + timedelta(hours=1),
    )  # fmt: skip
    decision = fused(close).model_copy(update={"fused_id": "f1", "decision": Decision.OPEN})
    intent = OrderIntent(
        intent_id="i1", asset="BTC/USDT", side="buy", quantity=Decimal("1"),
        reference_price=Decimal("100"), fused_id="f1", timestamp=close,
    )  # fmt: skip
    order = Order(
        order_id="o1", intent_id="i1", asset="BTC/USDT", side="buy", quantity=Decimal("1"),
        created_at=close, updated_at=close,
    )  # fmt: skip
    fill = Fill(
        fill_id="x1", order_id="o1", asset="BTC/USDT", side="buy", quantity=Decimal("1"),
        price=Decimal("100"), fee=Decimal("0"), ts=close,
    )  # fmt: skip
    steps = [(0.5, candles), (0.75, signal), (1.0, decision), (1.0, intent), (1.5, order)]
    steps += [(2.0, fill)]
    for after, record in steps:
        now[0] = close.timestamp() + after
        m.observe([record])
    expected = {
        "trade_to_candle": 0.5,
        "candle_to_signal": 0.25,
        "signal_to_fused": 0.25,
        "fused_to_order": 0.5,
        "order_to_fill": 0.5,
    }
    for stage, seconds in expected.items():
        assert value(m, "quorum_stage_latency_seconds_count", stage=stage) == 1, stage
        assert value(m, "quorum_stage_latency_seconds_sum", stage=stage) == pytest.approx(seconds)


def test_input_rows_are_counted_per_source_and_kind() -> None:
    m = metrics(live=False)
    trades = TradeBatch.from_columns("X/Y", [1, 2, 3], [1.0] * 3, [1.0] * 3, source="binance")
    m.observe(input_counts(trades) + input_counts(trades))
    assert value(m, "quorum_input_records_total", source="binance", kind="trades") == 6
    assert value(m, "quorum_stage_latency_seconds_count", stage="trade_to_candle") is None
