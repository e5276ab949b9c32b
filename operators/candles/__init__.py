"""Multi-timeframe candles: trades → closed 1m candles (event time, watermark, late trades) →
UTC-aligned 5m/15m/1h/4h roll-ups.

Pure cores (picklable, vectorized per batch):

* :class:`MinuteCandleBuilder` — trades → 1m candles (:mod:`operators.candles.minute`);
* :class:`CandleRollup` — closed candles → coarser candles (:mod:`operators.candles.rollup`);
* :class:`MultiTimeframeCandles` — both in one object (:mod:`operators.candles.multi`).

Bytewax operators wrapping them live in :mod:`operators.candles.ops` (imported separately, so
the cores do not import Bytewax).
"""

from operators.candles.minute import LateTrades, MinuteCandleBuilder, MinuteUpdate
from operators.candles.multi import MultiTimeframeCandles, MultiTimeframeUpdate
from operators.candles.rollup import CandleRollup
from operators.candles.timeframes import infer_timeframe, rollup_targets

__all__ = [
    "CandleRollup",
    "LateTrades",
    "MinuteCandleBuilder",
    "MinuteUpdate",
    "MultiTimeframeCandles",
    "MultiTimeframeUpdate",
    "infer_timeframe",
    "rollup_targets",
]
