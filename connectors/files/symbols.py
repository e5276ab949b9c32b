"""Unified symbols from the ways venues and file names write them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

KNOWN_QUOTES: tuple[str, ...] = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "JPY", "TRY", "BRL",
    "BTC", "ETH", "BNB",
)  # fmt: skip
"""Quote currencies recognised at the end of a concatenated symbol such as ``BTCUSDT``."""

DERIVATIVE_SUFFIXES: tuple[str, ...] = ("PERP", "SWAP")
"""Suffixes of venue instrument names kept as written (``BTC-PERP``)."""


def normalize_symbol(text: str) -> str:
    """A unified ``BASE/QUOTE`` symbol from the ways venues and files write it.

    ``/`` is kept; ``-`` or ``_`` between two parts becomes ``/`` (except a derivative suffix,
    kept as the venue writes it); a concatenated name is split before the longest quote
    currency in :data:`KNOWN_QUOTES`; anything else is kept, upper-cased.

    >>> [normalize_symbol(s) for s in ["xrp-eth", "BTCUSDT", "ada/btc", "btc-perp", "eth_btc"]]
    ['XRP/ETH', 'BTC/USDT', 'ADA/BTC', 'BTC-PERP', 'ETH/BTC']
    """
    name = text.strip().upper()
    if "/" in name:
        return name
    for separator in ("-", "_"):
        parts = name.split(separator)
        if len(parts) == 2 and all(parts):
            if parts[1] in DERIVATIVE_SUFFIXES:
                return name.replace("_", "-")
            return f"{parts[0]}/{parts[1]}"
    for quote in sorted(KNOWN_QUOTES, key=len, reverse=True):
        if name.endswith(quote) and len(name) > len(quote):
            return f"{name[: -len(quote)]}/{quote}"
    return name


def symbol_from_filename(path: str | Path, known: Iterable[str] = ()) -> str | None:
    """The symbol a file name states, or None when it states none.

    The rule: the part of the file name before the first ``_`` names the instrument
    (``xrp-eth_trades_2019-10.parquet`` → ``XRP/ETH``, ``btcusdt_trades_….parquet`` →
    ``BTC/USDT``, ``btc-perp_1m_….parquet`` → ``BTC-PERP``). It must read as a pair or a
    derivative (see :func:`normalize_symbol`), or be one of the ``known`` plain tickers (the
    configured instruments: ``nvda_daily.csv`` → ``NVDA``); a bare word such as ``data`` or
    ``btc`` states no symbol.

    >>> symbol_from_filename("xrp-eth_trades_2019-10.parquet"), symbol_from_filename("data.csv")
    ('XRP/ETH', None)
    >>> symbol_from_filename("nvda_1999-2014.csv"), symbol_from_filename("nvda_x.csv", ["NVDA"])
    (None, 'NVDA')
    """
    token = Path(path).name.split(".")[0].split("_")[0]
    if not token:
        return None
    if token.upper() in {name.upper() for name in known}:
        return token.upper()
    symbol = normalize_symbol(token)
    if "/" in symbol or any(symbol.endswith(f"-{s}") for s in DERIVATIVE_SUFFIXES):
        return symbol
    return None
