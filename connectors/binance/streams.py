"""Binance stream names, connection plans and paced subscription frames.

Binance allows at most 1,024 streams per connection and 5 incoming messages per second per
connection (subscribe frames, pings and pongs alike). A :class:`ConnectionPlan` groups symbols
so that each connection stays under the stream limit; :func:`subscribe_frames` splits its streams
into SUBSCRIBE frames and :class:`FramePacer` spaces them below the message rate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.common import Timeframe

MAX_STREAMS_PER_CONNECTION = 1024
_SYMBOL = re.compile(r"^([A-Z0-9]+)/([A-Z0-9]+)$")


def market_id(symbol: str) -> str:
    """Binance's id of a unified spot symbol.

    >>> market_id("BTC/USDT")
    'BTCUSDT'
    >>> market_id("btc-usdt")
    Traceback (most recent call last):
    ...
    ValueError: symbol 'btc-usdt' is not a unified spot symbol like BTC/USDT
    """
    match = _SYMBOL.match(symbol)
    if match is None:
        raise ValueError(f"symbol {symbol!r} is not a unified spot symbol like BTC/USDT")
    return match.group(1) + match.group(2)


@dataclass(frozen=True, slots=True)
class Channels:
    """Which streams to open per symbol.

    ``trades``: ``"trade"`` (every trade), ``"aggTrade"`` (aggregated) or None.
    """

    trades: str | None = "trade"
    timeframes: tuple[Timeframe, ...] = (Timeframe.M1,)
    book_ticker: bool = False

    def __post_init__(self) -> None:
        if self.trades not in ("trade", "aggTrade", None):
            raise ValueError(f"trades must be 'trade', 'aggTrade' or None, got {self.trades!r}")
        if not (self.trades or self.timeframes or self.book_ticker):
            raise ValueError("no channel selected: enable trades, a timeframe or book_ticker")

    def streams(self, symbol: str) -> list[str]:
        """Stream names for ``symbol``.

        >>> Channels("trade", (Timeframe.M1, Timeframe.H4), True).streams("BTC/USDT")
        ['btcusdt@trade', 'btcusdt@kline_1m', 'btcusdt@kline_4h', 'btcusdt@bookTicker']
        """
        prefix = market_id(symbol).lower()
        names = [f"{prefix}@{self.trades}"] if self.trades else []
        names += [f"{prefix}@kline_{tf.value}" for tf in self.timeframes]
        if self.book_ticker:
            names.append(f"{prefix}@bookTicker")
        return names

    @property
    def per_symbol(self) -> int:
        return (1 if self.trades else 0) + len(self.timeframes) + (1 if self.book_ticker else 0)


def plan_connections(
    symbols: Sequence[str], channels: Channels, max_streams: int = MAX_STREAMS_PER_CONNECTION
) -> list[tuple[str, ...]]:
    """Split ``symbols`` into groups whose streams fit one connection each (order kept).

    >>> plan_connections(["A/B", "C/D", "E/F"], Channels("trade", (Timeframe.M1,)), max_streams=4)
    [('A/B', 'C/D'), ('E/F',)]
    """
    if not 1 <= max_streams <= MAX_STREAMS_PER_CONNECTION:
        raise ValueError(
            f"max_streams must be within 1..{MAX_STREAMS_PER_CONNECTION}, got {max_streams}"
        )
    per_symbol = channels.per_symbol
    if per_symbol > max_streams:
        raise ValueError(f"one symbol needs {per_symbol} streams, more than max_streams")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"duplicate symbols in {list(symbols)}")
    size = max_streams // per_symbol
    return [tuple(symbols[i : i + size]) for i in range(0, len(symbols), size)]


def subscribe_frames(streams: Sequence[str], per_frame: int, first_id: int = 1) -> list[dict]:
    """SUBSCRIBE frames of at most ``per_frame`` streams each, with consecutive ids.

    >>> for frame in subscribe_frames(["a@trade", "b@trade", "c@trade"], per_frame=2):
    ...     print(frame)
    {'method': 'SUBSCRIBE', 'params': ['a@trade', 'b@trade'], 'id': 1}
    {'method': 'SUBSCRIBE', 'params': ['c@trade'], 'id': 2}
    """
    if per_frame < 1:
        raise ValueError(f"per_frame must be >= 1, got {per_frame}")
    return [
        {"method": "SUBSCRIBE", "params": list(streams[i : i + per_frame]), "id": first_id + n}
        for n, i in enumerate(range(0, len(streams), per_frame))
    ]


class FramePacer:
    """Spaces outgoing frames at most ``rate`` per second.

    >>> pacer = FramePacer(rate=4)
    >>> [pacer.delay(now) for now in (0.0, 0.0, 0.1, 1.0)]
    [0.0, 0.25, 0.4, 0.0]
    """

    def __init__(self, rate: float) -> None:
        if not 0 < rate <= 5:
            raise ValueError(f"rate must be within (0, 5] frames per second (Binance), got {rate}")
        self.interval = 1.0 / rate
        self._next: float | None = None

    def delay(self, now: float) -> float:
        """Seconds to wait before sending a frame at ``now`` (and book that slot)."""
        slot = now if self._next is None else max(now, self._next)
        self._next = slot + self.interval
        return slot - now
