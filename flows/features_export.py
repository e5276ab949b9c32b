"""Feature batches → one polars frame: a row per closed candle and timeframe."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from schemas.batches import FeatureBatch

if TYPE_CHECKING:
    from flows.config import QuorumConfig

BASE_COLUMNS = ("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")


def features_frame(batches: Iterable[FeatureBatch], names: Sequence[str]) -> pl.DataFrame:
    """Concatenate feature batches, sorted by symbol, timeframe (finest first) and time.

    Warm-up values stay NaN (not null), as the indicator banks emit them.
    """
    parts: list[pl.DataFrame] = []
    for batch in batches:
        c = batch.candles
        n = len(c)
        if n == 0:
            continue
        data: dict[str, object] = {
            "symbol": [c.symbol] * n,
            "timeframe": [c.timeframe.value] * n,
            "tf_seconds": np.full(n, c.timeframe.seconds, dtype=np.int64),
            "ts": c.ts_ns,
            "open": c.open,
            "high": c.high,
            "low": c.low,
            "close": c.close,
            "volume": c.volume,
        }
        for name in names:
            data[name] = batch.columns[name]
        parts.append(pl.DataFrame(data))
    schema = {
        "symbol": pl.String,
        "timeframe": pl.String,
        "tf_seconds": pl.Int64,
        "ts": pl.Int64,
        **{k: pl.Float64 for k in BASE_COLUMNS[3:]},
        **{name: pl.Float64 for name in names},
    }
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    return (
        frame.sort("symbol", "tf_seconds", "ts")
        .drop("tf_seconds")
        .with_columns(pl.from_epoch("ts", time_unit="ns").dt.replace_time_zone("UTC"))
    )


def with_quote_spread(
    frame: pl.DataFrame, path: Path, symbol: str | None, config: QuorumConfig
) -> pl.DataFrame:
    """For a quotes input, the ``spread`` feature: mean ask − bid of each intraday candle's
    quotes (null on daily and weekly rows); other inputs are returned unchanged."""
    from connectors.files import detect_kind
    from connectors.files.quotes import load_quotes

    if detect_kind(path) != "quotes" or frame.is_empty():
        return frame
    quotes = load_quotes(path, symbol, tuple(config.instruments.symbols))
    spread = quotes.spread.with_columns(
        pl.from_epoch("ts_ns", time_unit="ns").dt.replace_time_zone("UTC").alias("ts")
    ).drop("ts_ns")
    ts_type = frame.schema["ts"]
    return frame.join(
        spread.with_columns(pl.col("ts").cast(ts_type)),
        on=["symbol", "timeframe", "ts"],
        how="left",
        maintain_order="left",
    )
