"""Record validation: pure per-symbol validators and thin Bytewax operators around them.

Layout (one job per module):

* :mod:`.config` — :class:`ValidationConfig`, bounds and windows checked at start-up;
* :mod:`.reasons` — the dead-letter reason codes (:class:`Reason`);
* :mod:`.timeguard`, :mod:`.dedupe`, :mod:`.outliers` — the stateful checks;
* :mod:`.trades`, :mod:`.candles` — :class:`TradeValidator`, :class:`CandleValidator`: one
  symbol's batches in, ``(good batch, [DeadLetter])`` out, with counts per reason;
* :mod:`.ops` — :func:`validate_trades`, :func:`validate_candles` Bytewax operators.

Who rejects what: the file loader (:mod:`connectors.files`) dead-letters cells it cannot read
(``missing_value``, ``unparseable_value``); the validators dead-letter values that are read but
implausible (NaN, ≤ 0, out of range, duplicate, outlier, misaligned …); trades that go
*backwards* in time are not rejected here — the candle builder's watermark routes them to its
late stream. Every bad record ends in exactly one of those outputs.

>>> from schemas.batches import TradeBatch
>>> good, dead = TradeValidator("X/Y").validate(
...     TradeBatch.from_columns("X/Y", [1_700_000_000_000_000_000] * 2, [1.0, 0.0], [1.0, 1.0]))
>>> len(good), [d.reason for d in dead]
(1, ['non_positive_price'])
"""

from operators.validation.candles import CandleValidator
from operators.validation.config import ValidationConfig
from operators.validation.ops import (
    ValidatedCandles,
    ValidatedTrades,
    ValidationTally,
    validate_candles,
    validate_trades,
)
from operators.validation.reasons import ACCEPTED, Reason
from operators.validation.trades import TradeValidator

__all__ = [
    "ACCEPTED",
    "CandleValidator",
    "Reason",
    "TradeValidator",
    "ValidatedCandles",
    "ValidatedTrades",
    "ValidationConfig",
    "ValidationTally",
    "validate_candles",
    "validate_trades",
]
