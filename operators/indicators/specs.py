"""Feature names → indicator specifications.

A feature is named by a string: ``sma_<n>``, ``ema_<n>``, ``rsi_<n>``, ``atr_<n>``,
``volatility_<n>``, ``zscore_<n>`` (``n`` a period in canonical form: digits, no leading zero,
1 … ``MAX_PERIOD``; at least 2 for volatility and z-score), or one of the fixed names
``macd``/``macd_signal``/``macd_hist`` (MACD 12/26/9), ``bb_upper``/``bb_middle``/``bb_lower``
(Bollinger 20, 2) and ``vwap`` (UTC-session VWAP). Features that read the same indicator share
one ``indicator_key``, so a bank computes it once.

>>> parse_feature("rsi_14")
FeatureSpec(name='rsi_14', kind='rsi', params=(14,), output=None)
>>> parse_feature("bb_lower").indicator_key
('bollinger', (20, 2.0))
>>> parse_feature("rsi14")
Traceback (most recent call last):
ValueError: unknown feature 'rsi14'; accepted: sma_<n>, ema_<n>, rsi_<n>, atr_<n>, ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from operators.indicators.atr import ATR
from operators.indicators.bollinger import Bollinger
from operators.indicators.ema import EMA
from operators.indicators.macd import MACD
from operators.indicators.rsi import RSI
from operators.indicators.sma import SMA
from operators.indicators.volatility import Volatility
from operators.indicators.vwap import VWAP
from operators.indicators.zscore import ZScore

MAX_PERIOD = 10_000
"""Largest accepted period: bounds the state a feature can demand (a window of floats)."""

MACD_PARAMS = (12, 26, 9)
BOLLINGER_PARAMS = (20, 2.0)

_PERIODIC: dict[str, tuple[type, int]] = {
    "sma": (SMA, 1),
    "ema": (EMA, 1),
    "rsi": (RSI, 1),
    "atr": (ATR, 1),
    "volatility": (Volatility, 2),
    "zscore": (ZScore, 2),
}
_FIXED: dict[str, tuple[str, tuple[int | float, ...], int | None]] = {
    "macd": ("macd", MACD_PARAMS, 0),
    "macd_signal": ("macd", MACD_PARAMS, 1),
    "macd_hist": ("macd", MACD_PARAMS, 2),
    "bb_upper": ("bollinger", BOLLINGER_PARAMS, 0),
    "bb_middle": ("bollinger", BOLLINGER_PARAMS, 1),
    "bb_lower": ("bollinger", BOLLINGER_PARAMS, 2),
    "vwap": ("vwap", (), None),
}
_CLASSES: dict[str, type] = {
    **{kind: cls for kind, (cls, _) in _PERIODIC.items()},
    "macd": MACD,
    "bollinger": Bollinger,
    "vwap": VWAP,
}
_PERIODIC_NAME = re.compile(r"([a-z]+)_(0|[1-9][0-9]*)")

ACCEPTED_FORMS: tuple[str, ...] = (*(f"{kind}_<n>" for kind in _PERIODIC), *_FIXED)
"""Every accepted feature form, for error messages and ``--help`` texts."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One parsed feature: which indicator (``kind`` + ``params``) and which of its outputs.

    ``output`` indexes a multi-output indicator's value (MACD, Bollinger); ``None`` for
    single-output ones.

    >>> spec = parse_feature("macd_signal")
    >>> spec.build(), spec.output, spec.warmup
    (MACD(12, 26, 9), 1, 34)
    """

    name: str
    kind: str
    params: tuple[int | float, ...]
    output: int | None

    @property
    def indicator_key(self) -> tuple[str, tuple[int | float, ...]]:
        """Identifies the indicator instance: equal keys share one object in a bank."""
        return (self.kind, self.params)

    @property
    def warmup(self) -> int:
        """Candles needed before this feature has a value."""
        return _CLASSES[self.kind].warmup_for(*self.params)

    @property
    def indicator_class(self) -> type:
        """The indicator class computing this feature."""
        return _CLASSES[self.kind]

    def build(self) -> object:
        """A fresh indicator computing this feature."""
        return _CLASSES[self.kind](*self.params)


def _unknown(name: object, why: str = "unknown feature") -> ValueError:
    return ValueError(f"{why} {name!r}; accepted: {', '.join(ACCEPTED_FORMS)}")


def parse_feature(name: str) -> FeatureSpec:
    """Parse one feature name; ``ValueError`` naming it and listing the accepted forms."""
    if not isinstance(name, str):
        raise _unknown(name, "feature names are strings, got")
    fixed = _FIXED.get(name)
    if fixed is not None:
        kind, params, output = fixed
        return FeatureSpec(name, kind, params, output)
    match = _PERIODIC_NAME.fullmatch(name)
    if match is None or match.group(1) not in _PERIODIC:
        raise _unknown(name)
    kind, digits = match.groups()
    minimum = _PERIODIC[kind][1]
    if len(digits) > len(str(MAX_PERIOD)) or not minimum <= int(digits) <= MAX_PERIOD:
        raise _unknown(name, f"period out of range {minimum}..{MAX_PERIOD} in feature")
    return FeatureSpec(name, kind, (int(digits),), None)


def parse_features(specs: str | Iterable[str]) -> tuple[FeatureSpec, ...]:
    """Parse a comma-separated string or an iterable of names; no duplicates, not empty.

    >>> [s.name for s in parse_features(" sma_20, vwap ")]
    ['sma_20', 'vwap']
    """
    names = [part.strip() for part in specs.split(",")] if isinstance(specs, str) else specs
    parsed = tuple(parse_feature(name) for name in names)
    if not parsed:
        raise ValueError(f"no features given; accepted: {', '.join(ACCEPTED_FORMS)}")
    seen: set[str] = set()
    for spec in parsed:
        if spec.name in seen:
            raise ValueError(f"duplicate feature {spec.name!r}")
        seen.add(spec.name)
    return parsed
