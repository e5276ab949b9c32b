"""The spread is a flow feature: candles of quotes carry their mean spread into every roll-up and
onto the FeatureBatch the signal generators read (``spread``), equal to polars on the ticks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.config import load_config
from flows.runner import run_replay
from schemas.batches import FeatureBatch
from tests.replay.test_quotes import QUOTES, polars_candles


def constructed_quotes(path: Path) -> pl.DataFrame:
    """EUR/USD: 20 minutes, 0-9 quotes a minute (some minutes without any), seeded spreads."""
    rng = np.random.default_rng(3)
    start = np.datetime64("2024-01-08T10:00:00", "ms").astype(np.int64)
    stamps = [start + m * 60_000 + int(s) for m in range(20)
              for s in np.sort(rng.integers(0, 60_000, int(rng.integers(0, 10))))]  # fmt: skip
    bid = 1.09 + np.cumsum(rng.normal(0, 1e-5, len(stamps)))
    ask = bid + rng.uniform(1e-5, 3e-4, len(stamps))
    ticks = pl.DataFrame(
        {"timestamp": pl.Series(stamps).cast(pl.Datetime("ms", "UTC")), "bid": bid, "ask": ask}
    )
    ticks.write_csv(path)
    return ticks


def flow_spreads(path: Path) -> dict[str, FeatureBatch]:
    result = run_replay([path], config=load_config(None), stage="features", progress=False,
                        collect=True)  # fmt: skip
    batches = [b for b in result.collected if isinstance(b, FeatureBatch)]
    by_tf: dict[str, list[FeatureBatch]] = {}
    for batch in batches:
        by_tf.setdefault(batch.timeframe.value, []).append(batch)
    return {
        tf: (np.concatenate([b.candles.ts_ns for b in bs]),
             np.concatenate([b.columns["spread"] for b in bs]))
        for tf, bs in by_tf.items()
    }  # fmt: skip


@pytest.mark.parametrize("every", ["1m", "5m", "15m"])
def test_the_flow_spread_equals_polars_on_every_timeframe(tmp_path: Path, every: str) -> None:
    path = tmp_path / "eurusd_quotes.csv"
    ticks = constructed_quotes(path)
    ts, spread = flow_spreads(path)[every]
    expected = polars_candles(ticks, (pl.col("bid") + pl.col("ask")) / 2, every)
    assert ts.tolist() == expected["timestamp"].dt.epoch("ns").to_list()
    np.testing.assert_allclose(spread, expected["spread"].to_numpy(), rtol=1e-12)


def test_candles_of_trades_have_no_spread_feature() -> None:
    from connectors.files import shipped_path

    result = run_replay([shipped_path("xrp-eth_1m_2019-10")], config=load_config(None),
                        stage="features", progress=False, collect=True)  # fmt: skip
    batches = [b for b in result.collected if isinstance(b, FeatureBatch)]
    assert batches and all("spread" not in b.columns for b in batches)


def test_the_shipped_quotes_spread_reaches_the_features() -> None:
    _, spread = flow_spreads(QUOTES)["1m"]
    expected = polars_candles(pl.read_parquet(QUOTES), pl.col("bid"), "1m")
    np.testing.assert_allclose(spread, expected["spread"].to_numpy(), rtol=1e-12)
