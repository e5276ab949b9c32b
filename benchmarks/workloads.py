"""Benchmark workloads derived from the shipped real data.

Real tick data in the repository is small (12k XRP/ETH trades, 2k BTCUSDT trades), so trade
streams at scale are *derived from real 1-minute bars*: each bar becomes ``per_bar`` trades that
respect its open, high, low, close and volume exactly (open first, close last, the extreme nearer
the open second), evenly spaced inside the minute and never on its boundary (the first half a
spacing after it: systems disagree about which bar a trade stamped exactly on a boundary
closes). Aggregating them back gives the original bars.
Replicating to N symbols shifts nothing but the symbol name. Every figure says which data it used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from connectors.files import LoadedCandles, LoadedTrades, load_candles
from schemas.batches import TradeBatch
from schemas.common import NS_PER_MINUTE

DATA_DIR = Path(__file__).resolve().parent.parent / "connectors" / "data"
BTC_PERP_1M = DATA_DIR / "btc-perp_1m_2022-01.parquet"
MINUTE_BARS_SYMBOL = "BTC/USD"


@dataclass(frozen=True)
class TradeWorkload:
    """Columnar trades of one or more symbols, in event-time order per symbol."""

    description: str
    symbols: tuple[str, ...]
    ts_ns: np.ndarray
    price: np.ndarray
    amount: np.ndarray
    trade_id: np.ndarray

    @property
    def trades_per_symbol(self) -> int:
        return len(self.ts_ns)

    @property
    def total_trades(self) -> int:
        return len(self.ts_ns) * len(self.symbols)

    def batches(self, batch_size: int) -> list[TradeBatch]:
        """Per-symbol batches interleaved in time: what a replay source emits."""
        out: list[TradeBatch] = []
        n = len(self.ts_ns)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            for symbol in self.symbols:
                out.append(
                    TradeBatch.from_columns(
                        symbol,
                        self.ts_ns[start:stop],
                        self.price[start:stop],
                        self.amount[start:stop],
                        self.trade_id[start:stop],
                    )
                )
        return out

    def to_frame(self) -> pl.DataFrame:
        """Long-format frame (symbol, ts_ns, price, amount), symbol by symbol, for the baseline.

        >>> derived_trades(2, bars_limit=3).to_frame().shape
        (24, 4)
        """
        n = len(self.ts_ns)
        return pl.DataFrame(
            {
                "symbol": pl.Series(self.symbols).gather(
                    np.repeat(np.arange(len(self.symbols)), n)
                ),
                "ts_ns": np.tile(self.ts_ns, len(self.symbols)),
                "price": np.tile(self.price, len(self.symbols)),
                "amount": np.tile(self.amount, len(self.symbols)),
            }
        )

    def to_loaded(self) -> LoadedTrades:
        """The workload as a loaded trades file, ready for :class:`~connectors.replay.ReplaySource`.

        >>> len(derived_trades(2, bars_limit=3).to_loaded())
        24
        """
        frame = self.to_frame().with_columns(
            pl.Series("trade_id", np.tile(self.trade_id, len(self.symbols)), dtype=pl.Int64),
            pl.lit(0, dtype=pl.Int8).alias("side"),
        )
        return LoadedTrades(Path("derived-trades"), frame, [], frame.height)


def load_bars(path: Path = BTC_PERP_1M, limit: int | None = None) -> pl.DataFrame:
    bars = pl.read_parquet(path).sort("ts")
    return bars.head(limit) if limit else bars


def path_weights(per_bar: int) -> np.ndarray:
    """Weights of (open, nearer extreme, farther extreme, close) for each of ``per_bar`` trades.

    The trades walk the bar's path open → nearer extreme → farther extreme → close in straight
    lines, the four corners at trades 0, ⌊(n−1)/3⌋, ⌊2(n−1)/3⌋ and n−1. Four trades are the
    four corners themselves.

    >>> path_weights(4).tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    >>> path_weights(7)[[1, 3]].tolist()
    [[0.5, 0.5, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]]
    """
    last = per_bar - 1
    corners = np.array([0, last // 3, 2 * last // 3, last], dtype=np.float64)
    position = np.arange(per_bar, dtype=np.float64)
    return np.stack([np.interp(position, corners, np.eye(4)[k]) for k in range(4)], axis=1)


def trades_from_bars(bars: pl.DataFrame, per_bar: int = 4) -> tuple[np.ndarray, ...]:
    """``per_bar`` (≥ 4) trades per bar on the path open → nearer extreme → farther → close.

    The volume is split evenly; every trade lies within the bar's low and high, so aggregating
    the trades gives the bar back. ``per_bar = 4`` is the candle-heavy workload (the four
    corners), ~200 the realistic-density one (a liquid perpetual's minute holds hundreds).

    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> bars = pl.DataFrame({"ts": [datetime(2022, 1, 1, tzinfo=UTC)], "open": [10.0],
    ...     "high": [12.0], "low": [9.0], "close": [11.0], "volume": [8.0]})
    >>> ts, price, amount, ids = trades_from_bars(bars)
    >>> price.tolist(), float(amount.sum()), (ts - ts[0]).tolist()[1:]
    ([10.0, 9.0, 12.0, 11.0], 8.0, [15000000000, 30000000000, 45000000000])
    >>> [round(p, 2) for p in trades_from_bars(bars, 10)[1].tolist()]
    [10.0, 9.67, 9.33, 9.0, 10.0, 11.0, 12.0, 11.67, 11.33, 11.0]
    """
    if per_bar < 4:
        raise ValueError(f"per_bar must be at least 4 to respect OHLC, got {per_bar}")
    ts0 = bars["ts"].dt.epoch("ns").to_numpy().astype(np.int64)
    o, h, lo, c, v = (
        bars[k].to_numpy().astype(np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    up = c >= o
    corners = np.stack([o, np.where(up, lo, h), np.where(up, h, lo), c], axis=1)
    # rounding must never leave the bar's range
    prices = np.clip(corners @ path_weights(per_bar).T, lo[:, None], h[:, None])
    step = NS_PER_MINUTE // per_bar
    ts = ts0[:, None] + step // 2 + np.arange(per_bar, dtype=np.int64)[None, :] * step
    amount = np.repeat((v / per_bar)[:, None], per_bar, axis=1)
    ids = np.arange(len(bars) * per_bar, dtype=np.int64)
    return ts.ravel(), prices.ravel(), amount.ravel(), ids


def derived_trades(
    symbols: int = 1, per_bar: int = 4, bars_limit: int | None = None, path: Path = BTC_PERP_1M
) -> TradeWorkload:
    bars = load_bars(path, bars_limit)
    ts, price, amount, ids = trades_from_bars(bars, per_bar)
    names = tuple(f"BTC{i:04d}/USD" for i in range(symbols)) if symbols > 1 else ("BTC/USD",)
    return TradeWorkload(
        description=(
            f"{per_bar} trades per real 1m bar of {path.name} ({len(bars):,} bars), "
            f"{symbols} symbol(s)"
        ),
        symbols=names,
        ts_ns=ts,
        price=price,
        amount=amount,
        trade_id=ids,
    )


def minute_bars(
    limit: int | None = None, path: Path = BTC_PERP_1M, symbol: str = MINUTE_BARS_SYMBOL
) -> LoadedCandles:
    """The real 1-minute bars (the first ``limit``) as a loaded candles file: the backtest input.

    >>> len(minute_bars(100)), minute_bars(100).symbols
    (100, ('BTC/USD',))
    """
    loaded = load_candles(path, symbol)
    if limit is None:
        return loaded
    return replace(loaded, frame=loaded.frame.head(limit), rows_read=min(limit, loaded.rows_read))


def scale_bars(symbols: int, trades_budget: int, per_bar: int = 4, minimum: int = 120) -> int:
    """Bars per symbol so that ``symbols`` symbols make about ``trades_budget`` trades.

    Never fewer than ``minimum`` bars (two hours: every timeframe up to 1h closes) and never
    more than the month holds.

    >>> scale_bars(10, 1_000_000), scale_bars(2_000, 1_000_000), scale_bars(1, 10**9)
    (25000, 125, 45031)
    """
    available = pl.scan_parquet(BTC_PERP_1M).select(pl.len()).collect().item()
    wanted = trades_budget // (per_bar * symbols)
    return int(min(available, max(minimum, wanted)))
