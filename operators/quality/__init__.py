"""Data quality of stored market data: a great-expectations suite over candle series.

:func:`check_candles` profiles every (symbol, timeframe) series in polars (gaps, duplicates,
misaligned bars, OHLC invariant violations) and runs the expectations on it; ``quorum data
check`` prints the resulting :class:`QualityReport`. great-expectations is imported only when a
suite is built.
"""

from operators.quality.expectations import CHECK_NAMES, CandleSuite, check_candles
from operators.quality.profile import SeriesProfile, prepare_series, profile_series
from operators.quality.report import CheckOutcome, QualityReport, SeriesReport

__all__ = [
    "CHECK_NAMES",
    "CandleSuite",
    "CheckOutcome",
    "QualityReport",
    "SeriesProfile",
    "SeriesReport",
    "check_candles",
    "prepare_series",
    "profile_series",
]
