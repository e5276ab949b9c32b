"""Names a signal generator may read from a candle: OHLCV fields and indicator columns.

The indicator bank names its columns ``<kind>_<period>`` (``rsi_14``, ``ema_50``,
``zscore_20`` …) or with a fixed name (``macd``, ``bb_upper``, ``vwap`` …). Playbooks and
generators are validated against this vocabulary at start-up, so a typo fails before the flow
runs rather than silently never matching.

>>> is_known_feature("rsi_14"), is_known_feature("close"), is_known_feature("rsi_x")
(True, True, False)
"""

from __future__ import annotations

import re
from functools import lru_cache

CANDLE_FIELDS: frozenset[str] = frozenset({"open", "high", "low", "close", "volume"})
"""Values every candle row carries whatever indicators are configured."""

FIXED_FEATURES: frozenset[str] = frozenset(
    {"macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower", "vwap"}
)
"""Indicator columns with a fixed name (MACD 12/26/9, Bollinger 20/2, session VWAP)."""

PERIOD_KINDS: tuple[str, ...] = ("sma", "ema", "rsi", "atr", "volatility", "zscore")
"""Indicator kinds named ``<kind>_<period>``."""

_PERIODIC = re.compile(r"^(" + "|".join(PERIOD_KINDS) + r")_([2-9]|[1-9][0-9]{1,3})$")

PRICE_SCALED: frozenset[str] = frozenset(
    {"open", "high", "low", "close", "vwap", "bb_upper", "bb_middle", "bb_lower"}
)
"""Features that are price levels (compared with the close to become scale-free)."""


def is_known_feature(name: str) -> bool:
    """True if ``name`` is a candle field or an indicator column the bank can compute.

    >>> [is_known_feature(n) for n in ("ema_20", "ema_1", "macd_hist", "bb_width")]
    [True, False, True, False]
    """
    return name in CANDLE_FIELDS or name in FIXED_FEATURES or _PERIODIC.match(name) is not None


@lru_cache(maxsize=1024)  # read for every feature of every candle the learner sees
def indicator_kind(name: str) -> str:
    """The kind of a feature name: ``"rsi"`` for ``rsi_14``, the name itself otherwise.

    >>> indicator_kind("rsi_14"), indicator_kind("macd_hist"), indicator_kind("close")
    ('rsi', 'macd_hist', 'close')
    """
    match = _PERIODIC.match(name)
    return match.group(1) if match else name


def describe_vocabulary() -> str:
    """One line listing the accepted names, for error messages."""
    kinds = ", ".join(f"{k}_<n>" for k in PERIOD_KINDS)
    fixed = ", ".join(sorted(FIXED_FEATURES | CANDLE_FIELDS))
    return f"{kinds}, {fixed}"
