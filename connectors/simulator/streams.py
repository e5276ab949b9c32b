"""Binance stream names as the simulator understands them: ``<symbol>@<kind>[_<interval>]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.simulator.payloads import KLINE_INTERVALS_MS

_STREAM = re.compile(r"^([a-z0-9]+)@(trade|aggTrade|bookTicker|kline_([0-9]+[mhd]))$")


@dataclass(frozen=True, slots=True)
class StreamName:
    """A parsed stream name.

    >>> StreamName.parse("btcusdt@kline_1m")
    StreamName(market_id='BTCUSDT', kind='kline', interval='1m')
    >>> StreamName.parse("btcusdt@depth")
    Traceback (most recent call last):
    ...
    ValueError: invalid stream name 'btcusdt@depth'
    """

    market_id: str
    kind: str  # trade | aggTrade | bookTicker | kline
    interval: str | None = None

    @classmethod
    def parse(cls, name: str) -> StreamName:
        match = _STREAM.match(name) if isinstance(name, str) else None
        if match is None or (match.group(3) and match.group(3) not in KLINE_INTERVALS_MS):
            raise ValueError(f"invalid stream name {name!r}")
        kind = "kline" if match.group(3) else match.group(2)
        return cls(match.group(1).upper(), kind, match.group(3))

    def __str__(self) -> str:
        suffix = f"kline_{self.interval}" if self.kind == "kline" else self.kind
        return f"{self.market_id.lower()}@{suffix}"
