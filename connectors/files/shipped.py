"""The real market data shipped in ``connectors/data`` (see its README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from connectors.files.errors import MarketDataFileError
from connectors.files.loaders import LoadedFile, load_candles, load_trades

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
"""Real recorded market data shipped with Quorum (see its README.md)."""


@dataclass(frozen=True, slots=True)
class ShippedFile:
    """One file of :data:`DATA_DIR` and what it holds.

    >>> shipped = SHIPPED_DATA["btc-perp_1m_2022-01"]
    >>> shipped.kind, shipped.path.is_file(), shipped.load().symbols
    ('candles', True, ('BTC-PERP',))
    """

    filename: str
    kind: Literal["trades", "candles", "quotes", "depth"]
    description: str
    symbol: str | None = None
    """Symbol to load it with when neither a column nor the file name states it."""

    @property
    def path(self) -> Path:
        return DATA_DIR / self.filename

    def load(self) -> LoadedFile:
        """Load a trades, candles or quotes file (depth is not replay data)."""
        if self.kind == "trades":
            return load_trades(self.path, self.symbol)
        if self.kind == "candles":
            return load_candles(self.path, self.symbol)
        if self.kind == "quotes":
            from connectors.files.quotes import load_quotes

            return load_quotes(self.path, self.symbol)
        raise MarketDataFileError(f"{self.filename}: {self.kind} data is not replay data")


_SHIPPED = (
    ShippedFile("xrp-eth_trades_2019-10.parquet", "trades", "XRP/ETH trades (Binance)"),
    ShippedFile("xrp-eth_1m_2019-10.parquet", "candles", "XRP/ETH 1m built from those trades"),
    ShippedFile("btcusdt_trades_2021-01-08.parquet", "trades", "BTCUSDT trades (Binance)"),
    ShippedFile("alts-btc_5m_2018-01.parquet", "candles", "10 BTC-quoted pairs, 5m"),
    ShippedFile("btc-perp_1m_2022-01.parquet", "candles", "BTC perpetual, 1m"),
    ShippedFile("btc_1m_2017-11.parquet", "candles", "a BTC-quoted pair, 1m", "UNITTEST/BTC"),
    ShippedFile("btcusdt_quotes_2021-01-08.parquet", "quotes", "BTCUSDT best bid/ask"),
    ShippedFile("goog_1d_2004-2008.parquet", "candles", "GOOG daily, adj_close", "GOOG"),
    ShippedFile("btcusdt_depth-snapshot_2022-11.csv", "depth", "BTCUSDT book snapshot"),
    ShippedFile("btcusdt_depth-updates_2022-11.csv", "depth", "BTCUSDT depth updates"),
)

SHIPPED_DATA: dict[str, ShippedFile] = {f.filename.split(".")[0]: f for f in _SHIPPED}
"""Shipped files by name (the file name without extension)."""

DEFAULT_DATASETS: tuple[str, ...] = (
    "xrp-eth_trades_2019-10",
    "btcusdt_trades_2021-01-08",
    "alts-btc_5m_2018-01",
    "btc-perp_1m_2022-01",
)
"""The embedded default run: both trade files (→ candles built by the flow), the 10-pair 5m
basket and the BTC perpetual month. ``xrp-eth_1m_2019-10`` is left out because the flow builds
exactly those candles from the XRP/ETH trades."""


def shipped_path(name: str) -> Path:
    """Path of a shipped file, by name with or without extension.

    >>> shipped_path("btc-perp_1m_2022-01").name
    'btc-perp_1m_2022-01.parquet'
    """
    key = name.split(".")[0]
    if key not in SHIPPED_DATA:
        raise MarketDataFileError(
            f"no shipped data set named {name!r}; available: {', '.join(SHIPPED_DATA)}"
        )
    return SHIPPED_DATA[key].path
