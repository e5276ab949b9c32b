"""A small store holding one REVIEW decision with its candles, order intent and guard verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.store.engine import open_store
from connectors.store.market import write_candles
from connectors.store.signals import write_fused
from connectors.store.trading import write_records
from schemas.batches import CandleBatch
from schemas.common import Timeframe, datetime_to_ns
from schemas.signals import Contribution, Decision, FusedSignal
from schemas.trading import OrderIntent, RiskDecision

DECIDED_AT = datetime(2022, 1, 5, 10, 0, tzinfo=UTC)
FUSED_ID = "sig-review-0001"


def review_decision() -> FusedSignal:
    return FusedSignal(
        fused_id=FUSED_ID,
        asset="BTC-PERP",
        timestamp=DECIDED_AT,
        score=-0.56,
        direction="short",
        decision=Decision.REVIEW,
        contributions=[
            Contribution(
                origin="ml:online",
                timeframe="1h",
                direction="short",
                confidence=0.6,
                weight=1.1,
                signed=-0.6,
                share=-0.33,
                signal_id="s-ml",
            ),
            Contribution(
                origin="rules:rsi_reversal",
                timeframe="15m",
                direction="short",
                confidence=0.5,
                weight=0.9,
                signed=-0.5,
                share=-0.23,
                signal_id="s-rsi",
            ),
        ],
        timeframe_scores={"15m": -0.5, "1h": -0.6},
        consensus=-0.55,
        reasons=["score -0.560 from 2 live signals (0 long, 2 short); consensus -0.550"],
    )


@pytest.fixture
def small_store(tmp_path: Path) -> Path:
    path = tmp_path / "store.sqlite"
    engine = open_store(path)
    hour = Timeframe.H1.ns
    start = datetime_to_ns(DECIDED_AT) - 8 * hour
    closes = [47000.0, 46900.0, 46800.0, 46500.0, 46600.0, 46300.0, 46200.0, 46100.0]
    write_candles(
        engine,
        [
            CandleBatch.from_columns(
                "BTC-PERP",
                "1h",
                [start + i * hour for i in range(8)],
                closes,
                [c + 50 for c in closes],
                [c - 80 for c in closes],
                closes,
                [10.0] * 8,
            )
        ],
    )
    write_fused(engine, [review_decision()])
    intent = OrderIntent(
        intent_id="i1",
        asset="BTC-PERP",
        side="sell",
        quantity=Decimal("0.5"),
        reference_price=Decimal("46100"),
        fused_id=FUSED_ID,
        timestamp=DECIDED_AT,
    )
    verdict = RiskDecision(
        decision_id="r1",
        intent_id="i1",
        asset="BTC-PERP",
        approved=False,
        reason="liquidity",
        detail="0.5 BTC is 12 % of the bar's volume",
        trading_state="active",
        timestamp=DECIDED_AT,
    )
    write_records(engine, [intent, verdict], run_id="test")
    engine.dispose()
    return path
