"""What every signal generator is, and the one way generators build a :class:`Signal`."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from operators.signals.market_view import CandleRow, MarketView
from schemas.common import Direction, Timeframe, ns_to_datetime
from schemas.signals import Signal, make_signal_id


@runtime_checkable
class SignalGenerator(Protocol):
    """A pure, picklable core reading closed candles of one symbol and emitting signals.

    The engine calls :meth:`on_candle` once per closed candle of every timeframe in close-time
    order; ``view`` already holds ``row`` and every other timeframe's candles closed at or before
    ``row.close_ns`` — nothing later.
    """

    origin: str

    def required_features(self) -> set[str]:
        """Indicator columns this generator reads (the indicator bank computes their union)."""
        ...

    def on_candle(self, row: CandleRow, view: MarketView) -> list[Signal]:
        """Signals implied by this newly closed candle (often none)."""
        ...


def build_signal(
    origin: str,
    row: CandleRow,
    direction: Direction,
    confidence: float,
    expires_after: int,
    meta: dict[str, Any] | None = None,
) -> Signal:
    """A signal stamped at the candle's close, live for ``expires_after`` candles of its timeframe.

    The id hashes origin, asset, timeframe and close time: a replay produces the same ids.

    >>> row = CandleRow("BTC/USDT", Timeframe.M15, 0, 1.0, 1.0, 1.0, 1.0, 1.0)
    >>> s = build_signal("stat:zscore", row, Direction.LONG, 0.4, 4, {"z": -2.5})
    >>> s.timestamp.isoformat(), s.expires_at.isoformat(), s.meta["close"]
    ('1970-01-01T00:15:00+00:00', '1970-01-01T01:15:00+00:00', 1.0)
    """
    if expires_after < 1:
        raise ValueError(f"expires_after must be >= 1 candle, got {expires_after}")
    close_ns = row.close_ns
    payload = {"close": row.close, **(meta or {})}
    return Signal(
        signal_id=make_signal_id(origin, row.symbol, row.timeframe.value, close_ns),
        asset=row.symbol,
        direction=direction,
        confidence=min(1.0, max(0.0, float(confidence))),
        timeframe=row.timeframe,
        origin=origin,
        meta=payload,
        timestamp=ns_to_datetime(close_ns),
        expires_at=ns_to_datetime(close_ns + expires_after * row.timeframe.ns),
    )


def horizon_ns(timeframe: Timeframe, candles: int) -> int:
    """Length of ``candles`` candles of ``timeframe`` in nanoseconds.

    >>> horizon_ns(Timeframe.H1, 2) // 1_000_000_000
    7200
    """
    return candles * timeframe.ns
