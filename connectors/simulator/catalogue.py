"""What the simulator serves: markets built from the real data shipped in ``connectors/data``.

Every market's recorded data is moved in time by a whole number of minutes so that it starts at
the simulator's start time (kline boundaries stay aligned), and loops so a demo never runs dry:

============  ======================================  ===========================================
symbol        WebSocket / REST                         recorded data
============  ======================================  ===========================================
``BTC/USDT``  trades, aggTrades, klines, bookTicker    2,001 Binance trades and 451 quotes (46 s),
                                                        looping every minute
``XRP/ETH``   trades, aggTrades, klines                12,477 Binance trades over 2.5 days
``BTC/USDC``  klines only                              45,031 one-minute bars of the BTC perpetual
                                                        (January 2022), standing in for a bar feed
============  ======================================  ===========================================

Klines of trade markets are aggregated from the very trades served, so the ``trade`` stream, the
``kline_<tf>`` streams and ``/api/v3/klines`` always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from connectors.simulator.tape import (
    MS_PER_MINUTE,
    Klines,
    Tape,
    TradeTape,
    klines_from_bars,
    klines_from_trades,
)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True, slots=True)
class Market:
    """One symbol the simulator serves.

    ``offset_ms`` is what was added to the recorded times (recorded = served - offset).
    """

    base: str
    quote: str
    offset_ms: int = 0
    trades: TradeTape | None = None
    quotes: Tape | None = None  # columns: bid, bid_qty, ask, ask_qty
    bars: Tape | None = None  # 1-minute bars: open, high, low, close, volume
    price_decimals: int = 2
    qty_decimals: int = 6

    @property
    def symbol(self) -> str:
        """Unified symbol, ``BASE/QUOTE``."""
        return f"{self.base}/{self.quote}"

    @property
    def market_id(self) -> str:
        """Binance's id, ``BASEQUOTE``."""
        return f"{self.base}{self.quote}"

    def klines(self, tf_ms: int, first_open: int, n: int, now_ms: int) -> Klines:
        """``n`` buckets from ``first_open`` as known at ``now_ms``: from the trades or, for a
        bar-only market, from its 1-minute bars."""
        if self.trades is not None:
            return klines_from_trades(self.trades, tf_ms, first_open, n, now_ms)
        if self.bars is not None:
            return klines_from_bars(self.bars, tf_ms, first_open, n, now_ms)
        return Klines.empty()


def _floor_minute(ms: int) -> int:
    return ms - ms % MS_PER_MINUTE


def _loop_period(ts_ms: np.ndarray) -> int:
    """Smallest whole number of minutes strictly longer than the recorded span."""
    span = int(ts_ms[-1] - ts_ms[0])
    return (span // MS_PER_MINUTE + 1) * MS_PER_MINUTE


def _ms(column: pl.Series) -> np.ndarray:
    return column.dt.epoch("ms").to_numpy().astype(np.int64)


def _btc_usdt(start_ms: int) -> Market:
    trades = pl.read_parquet(DATA_DIR / "btcusdt_trades_2021-01-08.parquet")
    quotes = pl.read_parquet(DATA_DIR / "btcusdt_quotes_2021-01-08.parquet")
    ts = _ms(trades["timestamp"])
    quote_ts = _ms(quotes["timestamp"])
    period = _loop_period(np.concatenate([ts, quote_ts]))
    origin = _floor_minute(int(min(ts[0], quote_ts[0])))
    offset = _floor_minute(start_ms) - origin
    tape = TradeTape.build(
        ts + offset,
        trades["price"].to_numpy(),
        trades["quantity"].to_numpy(),
        (trades["buyer_maker"] == "True").to_numpy(),
        first_id=int(trades["trade_id"][0]),
        period_ms=period,
    )
    quote_tape = Tape(
        quote_ts + offset,
        {
            "bid": quotes["bid"].to_numpy(),
            "bid_qty": quotes["bid_size"].to_numpy(),
            "ask": quotes["ask"].to_numpy(),
            "ask_qty": quotes["ask_size"].to_numpy(),
        },
        period,
    )
    return Market("BTC", "USDT", offset, trades=tape, quotes=quote_tape)


def _xrp_eth(start_ms: int) -> Market:
    trades = pl.read_parquet(DATA_DIR / "xrp-eth_trades_2019-10.parquet")
    ts = _ms(trades["ts"])
    offset = _floor_minute(start_ms) - _floor_minute(int(ts[0]))
    tape = TradeTape.build(
        ts + offset,
        trades["price"].to_numpy(),
        trades["amount"].to_numpy(),
        (trades["side"] == "sell").to_numpy(),  # the taker sold: the buyer was the maker
        first_id=int(trades["id"][0]),
        period_ms=_loop_period(ts),
    )
    return Market("XRP", "ETH", offset, trades=tape, price_decimals=8, qty_decimals=2)


def _btc_usdc(start_ms: int) -> Market:
    bars = pl.read_parquet(DATA_DIR / "btc-perp_1m_2022-01.parquet")
    ts = _ms(bars["ts"])
    offset = _floor_minute(start_ms) - _floor_minute(int(ts[0]))
    tape = Tape(
        ts + offset,
        {name: bars[name].to_numpy() for name in ("open", "high", "low", "close", "volume")},
        _loop_period(ts),
    )
    return Market("BTC", "USDC", offset, bars=tape, price_decimals=1, qty_decimals=4)


def default_markets(start_ms: int) -> dict[str, Market]:
    """The shipped markets, keyed by Binance id, all starting at ``start_ms``.

    >>> markets = default_markets(1_610_064_000_000)          # 2021-01-08 00:00 UTC
    >>> sorted(markets), markets["BTCUSDT"].offset_ms
    (['BTCUSDC', 'BTCUSDT', 'XRPETH'], 0)
    """
    markets = (_btc_usdt(start_ms), _xrp_eth(start_ms), _btc_usdc(start_ms))
    return {m.market_id: m for m in markets}
