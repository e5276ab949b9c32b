"""Quiet bars processed a stretch at a time leave exactly what the bar-by-bar path leaves: the
same outputs and the same state, whatever the market, the decisions, the breakers and the
day and sampling boundaries do — and on a quiet market the bar-by-bar path is the exception."""

from __future__ import annotations

import math
import pickle
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.execution.engine import TradingEngine
from operators.execution.engine_state import Bar
from operators.execution.trading_config import TradingConfig
from schemas.batches import CandleBatch
from schemas.common import NS_PER_MINUTE, ns_to_datetime
from schemas.signals import FusedSignal

T0 = 1_641_081_600_000_000_000 - 90 * NS_PER_MINUTE  # 2022-01-01 22:30 UTC: crosses midnight
ASSETS = ("A/B", "C/D")


class BarByBar(TradingEngine):
    """The reference: every bar through :meth:`TradingEngine._on_bar`."""

    def _quiet_bars(self, *args: Any) -> int:
        return 0


class Counting(TradingEngine):
    """Counts the bars that went the bar-by-bar way."""

    slow_bars = 0

    def _on_bar(self, row: Bar, now: int) -> list:
        self.slow_bars += 1
        return super()._on_bar(row, now)


def _config(**risk: Any) -> TradingConfig:
    return TradingConfig.model_validate(
        {
            "assets": ASSETS,
            "portfolio": {"equity_interval_seconds": 1800},
            "risk": {
                "volatility_warmup_bars": 5,
                "volatility_cooldown_bars": 7,
                "volatility_spike_multiple": 4,
                **risk,
            },
        }
    )


def _market(seed: int, minutes: int) -> list[Any]:
    """Both assets' bars in batches of random sizes (some with a repeated minute), random walks
    with rare jumps, and open or review decisions of either direction between them."""
    rng = random.Random(seed)
    items: list[Any] = []
    for j, asset in enumerate(ASSETS):
        price, k = 100.0 + 20 * j, 0
        while k < minutes:
            size = rng.randint(1, 40)
            opens, closes, stamps = [], [], []
            for i in range(k, min(k + size, minutes)):
                jump = rng.random() < 0.02
                step = rng.gauss(0, 0.03 if jump else 0.002)
                opens.append(price)
                price = max(1.0, price * math.exp(step))
                closes.append(price)
                stamps.append(T0 + i * NS_PER_MINUTE)
            if rng.random() < 0.1:  # a minute delivered twice
                opens.append(opens[-1])
                closes.append(closes[-1])
                stamps.append(stamps[-1])
            highs = [max(o, c) * 1.001 for o, c in zip(opens, closes, strict=True)]
            lows = [min(o, c) * 0.999 for o, c in zip(opens, closes, strict=True)]
            volumes = [rng.uniform(1e3, 1e6) for _ in closes]
            items.append(
                CandleBatch.from_columns(asset, "1m", stamps, opens, highs, lows, closes, volumes)
            )
            k += size
            if rng.random() < 0.5:
                items.append(
                    FusedSignal(
                        fused_id=f"fs-{asset}-{k}",
                        asset=asset,
                        timestamp=ns_to_datetime(T0 + k * NS_PER_MINUTE),
                        score=0.8,
                        direction=rng.choice(["long", "short"]),
                        decision=rng.choice(["open", "open", "review"]),
                    )
                )
    rng.shuffle(items)  # arrival order across assets and kinds is the engine's business
    return items


def _state(engine: TradingEngine) -> dict[str, Any]:
    breakers = engine.guard.breakers
    return {
        "markets": {
            a: (m.last_open_ns, m.last_close_ns, m.close, m.close_float, list(m.volumes))
            for a, m in engine.markets.items()
        },
        "volatility": {a: (v.prev_close, v.variance, v.returns) for a, v in breakers._vol.items()},
        "day": (breakers.day, breakers.day_start_equity, breakers.peak_equity),
        "marks": dict(engine.book.marks),
        "clock": (engine.clock.now_ns, engine.clock.next_equity_ns),
        "stats": engine.summary(),
        "state": engine.trading_state,
    }


def _both(items: list[Any], config: TradingConfig, split: int) -> tuple[list, list]:
    runs = []
    for kind in (TradingEngine, BarByBar):
        engine = kind(config, atr=dict.fromkeys(ASSETS, 0.5))
        out = engine.process(items[:split])
        engine = pickle.loads(pickle.dumps(engine))
        out += engine.process(items[split:]) + engine.flush()
        runs.append((out, _state(engine)))
    return runs[0], runs[1]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    minutes=st.integers(30, 200),
    drawdown=st.sampled_from([0.5, 2.0, 30.0]),
    split=st.integers(0, 30),
)
def test_quiet_stretches_leave_what_bar_by_bar_leaves(
    seed: int, minutes: int, drawdown: float, split: int
) -> None:
    config = _config(max_drawdown_pct=drawdown, daily_loss_limit_pct=drawdown)
    quiet, reference = _both(_market(seed, minutes), config, split)
    assert quiet == reference


@pytest.mark.parametrize("seed", range(4))
def test_a_long_mixed_session_is_identical(seed: int) -> None:
    quiet, reference = _both(_market(seed, 600), _config(), 7)
    assert quiet == reference
    assert any(type(e).__name__ == "Fill" for e in quiet[0])  # it traded, not only watched


def test_on_a_quiet_market_only_the_boundaries_go_bar_by_bar() -> None:
    minutes = 600  # ten hours: crosses midnight, 20 equity instants
    closes = [100.0 + math.sin(i / 9) for i in range(minutes)]
    stamps = [T0 + i * NS_PER_MINUTE for i in range(minutes)]
    bars = CandleBatch.from_columns("A/B", "1m", stamps, closes, closes, closes, closes, closes)
    engine = Counting(_config())
    engine.process([bars])
    engine.flush()
    assert engine.stats["candles"] == minutes
    # the first bar, the first after each of the 20 sampling instants and after midnight
    assert engine.slow_bars <= 25
