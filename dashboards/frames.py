"""Frames the pages draw: a window of candles with indicators, signal and fill markers.

>>> from connectors.store.engine import open_store
>>> from connectors.store.market import write_candles
>>> from schemas.batches import CandleBatch
>>> engine = open_store("sqlite://")
>>> minute = 60_000_000_000
>>> _ = write_candles(engine, [CandleBatch.from_columns("A/B", "1m", [0, minute, 2 * minute],
...                   [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3], [0, 0, 0])])
>>> window = candle_window(engine, "A/B", "1m", bars=2)
>>> window.bars["close"].to_list(), window.start.isoformat()
([2.0, 3.0], '1970-01-01T00:01:00+00:00')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import select
from sqlalchemy.engine import Engine

from api.reads.trading import default_run
from connectors.store.market import candle_inventory, read_candles, read_features
from connectors.store.signals import fused_signals
from connectors.store.trading import fills, read_fills
from schemas.common import Timeframe, datetime_to_ns

INDICATOR_LINES = ("ema_20", "ema_50", "bb_upper", "bb_middle", "bb_lower")
_TS = pl.Datetime("ns", "UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CandleWindow:
    """The last ``bars`` candles of one series with their features (``start`` inclusive)."""

    bars: pl.DataFrame
    features: pl.DataFrame
    start: datetime
    end: datetime

    def lines(self, names: tuple[str, ...] = INDICATOR_LINES) -> pl.DataFrame:
        """Indicator values in long format (ts, indicator, value), warm-up NaNs dropped."""
        present = [n for n in names if n in self.features.columns]
        if not present or self.features.height == 0:
            return pl.DataFrame(schema={"ts": _TS, "indicator": pl.String, "value": pl.Float64})
        return (
            self.features.select("ts", *present)
            .unpivot(index="ts", variable_name="indicator", value_name="value")
            .filter(pl.col("value").is_not_nan())
        )


def series(engine: Engine) -> pl.DataFrame:
    """Stored candle series: symbol, timeframe, rows, first and last open time."""
    return candle_inventory(engine)


def candle_window(engine: Engine, symbol: str, timeframe: str, *, bars: int) -> CandleWindow:
    """The last ``bars`` candles of ``symbol``/``timeframe`` and their features."""
    inventory = series(engine).filter(
        (pl.col("symbol") == symbol) & (pl.col("timeframe") == timeframe)
    )
    if inventory.height == 0:  # no such series: empty frames of the right shape
        none = read_candles(engine, symbol=symbol, timeframe=timeframe)
        return CandleWindow(none, pl.DataFrame(), EPOCH, EPOCH)
    bar = timedelta(seconds=Timeframe.parse(timeframe).seconds)
    last: datetime = inventory["last_ts"][0]
    start = last - bar * (bars - 1)
    end = last + bar
    candles = read_candles(engine, symbol=symbol, timeframe=timeframe, start=start, end=end)
    features = read_features(engine, symbol=symbol, timeframe=timeframe, start=start, end=end)
    return CandleWindow(candles, features, start, end)


def signal_markers(
    engine: Engine, asset: str, window: CandleWindow, decisions: tuple[str, ...]
) -> pl.DataFrame:
    """Fused signals of ``asset`` in the window, placed at the close of their candle."""
    stmt = (
        select(
            fused_signals.c.fused_id,
            fused_signals.c.ts,
            fused_signals.c.decision,
            fused_signals.c.direction,
            fused_signals.c.score,
        )
        .where(
            fused_signals.c.asset == asset,
            fused_signals.c.decision.in_(decisions),
            fused_signals.c.ts >= datetime_to_ns(window.start),
            fused_signals.c.ts < datetime_to_ns(window.end),
        )
        .order_by(fused_signals.c.ts)
    )
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(stmt)]
    schema = {
        "fused_id": pl.String,
        "ts": pl.Int64,
        "decision": pl.String,
        "direction": pl.String,
        "score": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col("ts").cast(_TS))
    return _at_candle_close(frame, window.bars)


def fill_markers(engine: Engine, asset: str, window: CandleWindow) -> pl.DataFrame:
    """Fills of ``asset`` in the window, from the most recent run with fills."""
    with engine.connect() as conn:
        run_id = default_run(conn, fills)
    if run_id is None:
        return pl.DataFrame()
    frame = read_fills(engine, run_id=run_id)
    return frame.filter(
        (pl.col("asset") == asset) & (pl.col("ts") >= window.start) & (pl.col("ts") < window.end)
    ).select("ts", "price", "side", "quantity")


def _at_candle_close(markers: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """Attach the close of the candle each marker falls in (the last one opened before it)."""
    if markers.height == 0 or bars.height == 0:
        return markers.with_columns(price=pl.lit(None, pl.Float64)).clear()
    placed = markers.sort("ts").join_asof(
        bars.select("ts", pl.col("close").alias("price")).sort("ts"), on="ts", strategy="backward"
    )
    return placed.filter(pl.col("price").is_not_null())
