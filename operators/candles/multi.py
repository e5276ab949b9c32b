"""One object per symbol that turns trades (or candles) into every timeframe at once.

:class:`MultiTimeframeCandles` chains a :class:`~operators.candles.minute.MinuteCandleBuilder`
and a :class:`~operators.candles.rollup.CandleRollup`: trades → closed 1m candles → 5m, 15m,
1h, 4h. The candle-input variant starts from closed candles of a given timeframe instead (for
recorded OHLCV such as 1m or 5m bars; :func:`~operators.candles.timeframes.infer_timeframe`
tells the timeframe of bars from their spacing) and passes those candles through with the
roll-ups. It backs the ``build_candles`` operator and ``quorum features``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from operators.candles.aggregate import concat_candles
from operators.candles.calendars import MarketCalendar
from operators.candles.minute import LateTrades, MinuteCandleBuilder
from operators.candles.rollup import CandleRollup
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe


@dataclass(frozen=True, slots=True)
class MultiTimeframeUpdate:
    """Candles closed by one call, per timeframe (finest first; empty timeframes left out)."""

    candles: dict[Timeframe, CandleBatch]
    late: LateTrades
    watermark_ns: int | None = None

    @property
    def late_count(self) -> int:
        return len(self.late)

    def batches(self) -> list[CandleBatch]:
        """The non-empty candle batches, finest timeframe first."""
        return list(self.candles.values())


class MultiTimeframeCandles:
    """Trades or candles of one symbol → closed candles on every timeframe.

    Build it with :meth:`from_trades` or :meth:`from_candles`.

    >>> m = 60_000_000_000
    >>> core = MultiTimeframeCandles.from_trades("X/Y", [Timeframe.M5])
    >>> trades = TradeBatch.from_columns("X/Y", [0, m, 4 * m, 5 * m], [1.0, 3.0, 2.0, 4.0],
    ...                                  [1.0, 1.0, 1.0, 1.0])
    >>> {tf.value: len(b) for tf, b in core.update(trades).candles.items()}
    {'1m': 5, '5m': 1}
    >>> {tf.value: b.close.tolist() for tf, b in core.flush().candles.items()}
    {'1m': [4.0], '5m': [4.0]}
    """

    def __init__(
        self, rollup: CandleRollup, minute_builder: MinuteCandleBuilder | None = None
    ) -> None:
        if minute_builder is not None and (
            minute_builder.symbol != rollup.symbol or rollup.source != Timeframe.M1
        ):
            raise ValueError("the minute builder must feed a 1m roll-up of the same symbol")
        self.rollup = rollup
        self.minute_builder = minute_builder

    def __deepcopy__(self, memo: dict[int, object]) -> MultiTimeframeCandles:
        """Bytewax snapshots state by deep copy every epoch: copy only what changes."""
        return MultiTimeframeCandles(
            copy.deepcopy(self.rollup, memo), copy.deepcopy(self.minute_builder, memo)
        )

    @classmethod
    def from_trades(
        cls,
        symbol: str,
        targets: Iterable[Timeframe] | None = None,
        *,
        allowed_lateness_ns: int = 0,
        fill_empty: bool = True,
        calendar: MarketCalendar | None = None,
    ) -> MultiTimeframeCandles:
        """Trades → 1m → ``targets`` (default: 5m, 15m, 1h, 4h) on the market's ``calendar``."""
        builder = MinuteCandleBuilder(
            symbol,
            allowed_lateness_ns=allowed_lateness_ns,
            fill_empty=fill_empty,
            calendar=calendar,
        )
        # The builder's filled minutes are published at 1m but kept out of the roll-ups, so every
        # coarser candle equals the direct aggregation of the trades.
        rollup = CandleRollup(symbol, Timeframe.M1, targets, skip_untraded=True, calendar=calendar)
        return cls(rollup, builder)

    @classmethod
    def from_candles(
        cls,
        symbol: str,
        source: Timeframe,
        targets: Iterable[Timeframe] | None = None,
        calendar: MarketCalendar | None = None,
    ) -> MultiTimeframeCandles:
        """Closed ``source`` candles → themselves plus ``targets`` (default: all coarser)."""
        return cls(CandleRollup(symbol, source, targets, calendar=calendar))

    @property
    def symbol(self) -> str:
        return self.rollup.symbol

    @property
    def timeframes(self) -> tuple[Timeframe, ...]:
        """Every timeframe this core emits, finest first."""
        return (self.rollup.source, *self.rollup.targets)

    @property
    def takes_trades(self) -> bool:
        return self.minute_builder is not None

    def update(self, batch: TradeBatch | CandleBatch) -> MultiTimeframeUpdate:
        """Trades (trade variant) or closed source candles (candle variant)."""
        if self.minute_builder is not None:
            if not isinstance(batch, TradeBatch):
                raise TypeError(f"this core builds candles from trades; got {type(batch).__name__}")
            minute = self.minute_builder.update(batch)
            closed = self._with_rollups(minute.candles)
            return MultiTimeframeUpdate(closed, minute.late, minute.watermark_ns)
        if not isinstance(batch, CandleBatch):
            raise TypeError(
                f"this core rolls up {self.rollup.source.value} candles; got {type(batch).__name__}"
            )
        late = LateTrades.empty(self.symbol, batch.source)
        return MultiTimeframeUpdate(self._with_rollups(batch), late, None)

    def flush(self) -> MultiTimeframeUpdate:
        """End of stream: close the open minutes, then emit the partial buckets."""
        if self.minute_builder is not None:
            minute = self.minute_builder.flush()
            closed = self._with_rollups(minute.candles)
            late, watermark_ns = minute.late, minute.watermark_ns
        else:
            closed, late, watermark_ns = {}, LateTrades.empty(self.symbol), None
        for timeframe, partial in self.rollup.flush().items():
            earlier = closed.get(timeframe)
            closed[timeframe] = (
                partial
                if earlier is None
                else concat_candles(self.symbol, timeframe, [earlier, partial], partial.source)
            )
        ordered = {t: closed[t] for t in self.timeframes if t in closed}
        return MultiTimeframeUpdate(ordered, late, watermark_ns)

    def _with_rollups(self, base: CandleBatch) -> dict[Timeframe, CandleBatch]:
        if len(base) == 0:
            return {}
        return {self.rollup.source: base, **self.rollup.update(base)}
