"""The indicator set the flow computes on every closed candle of one (symbol, timeframe).

``IndicatorBank`` is configured by feature names (see ``specs``) and turns each closed candle
into one float per feature, NaN while that feature warms up. Features reading the same
indicator share it (``macd``/``macd_signal``/``macd_hist`` one MACD, ``bb_*`` one Bollinger).
The bank is the keyed state of a Bytewax step: small, picklable, and a bank restored from a
pickle continues bit-for-bit as if never interrupted.

Candles are validated as a whole before any indicator moves, so a bad candle raises
``ValueError`` (naming the field and value) and leaves the bank unchanged: prices finite and
> 0, volume finite and >= 0, ``ts_ns`` strictly increasing. The flow validates candles before
they reach the bank; these checks keep the state safe if one slips through.

>>> bank = IndicatorBank(["sma_2", "vwap"])
>>> bank.update(10.0, 11.0, 9.0, 10.0, 5.0, 0)
(nan, 10.0)
>>> bank.update(10.0, 13.0, 11.0, 12.0, 5.0, 60_000_000_000)
(11.0, 11.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from math import isfinite
from typing import Any

import numpy as np

from operators.indicators.specs import (
    ACCEPTED_FORMS,
    FeatureSpec,
    parse_feature,
    parse_features,
)
from schemas.batches import CandleBatch

DEFAULT_FEATURES: tuple[str, ...] = (
    "sma_20",
    "ema_12",
    "ema_26",
    "ema_20",
    "ema_50",
    "rsi_14",
    "atr_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "volatility_20",
    "zscore_20",
    "vwap",
)
"""The columns of ``quorum features``, in order (the first 13 are required by the command)."""

_INPUTS = {"atr": "hlc", "vwap": "candle"}
"""What an indicator kind reads besides the close: high/low/close, or the whole candle."""

__all__ = [
    "ACCEPTED_FORMS",
    "DEFAULT_FEATURES",
    "IndicatorBank",
    "feature_names_for",
    "required_warmup",
]


def feature_names_for(specs: str | Iterable[str]) -> tuple[str, ...]:
    """Validate feature names (an iterable, or one comma-separated string); return them.

    >>> feature_names_for("rsi_14,macd_hist")
    ('rsi_14', 'macd_hist')
    >>> feature_names_for(["volatility_1"])
    Traceback (most recent call last):
    ValueError: period out of range 2..10000 in feature 'volatility_1'; accepted: sma_<n>, ...
    """
    return tuple(spec.name for spec in parse_features(specs))


def required_warmup(names: Iterable[str]) -> int:
    """Closed candles needed before every named feature has a value (0 for no names).

    >>> required_warmup(DEFAULT_FEATURES)
    50
    >>> required_warmup(["macd"])
    34
    """
    return max((parse_feature(name).warmup for name in names), default=0)


class IndicatorBank:
    """The features of one (symbol, timeframe): one closed candle in, one float per feature out.

    >>> bank = IndicatorBank()
    >>> bank.names[:3]
    ('sma_20', 'ema_12', 'ema_26')
    >>> len(bank.update(1.0, 1.0, 1.0, 1.0, 1.0, 0)) == len(DEFAULT_FEATURES)
    True
    """

    __slots__ = (
        "_candle_steps",
        "_close_steps",
        "_hlc_steps",
        "_indicators",
        "_last_ts",
        "_layout",
        "names",
    )

    def __init__(self, features: Sequence[str] | str = DEFAULT_FEATURES) -> None:
        specs = parse_features(features)
        indicators: dict[tuple[str, tuple[int | float, ...]], Any] = {}
        for spec in specs:
            if spec.indicator_key not in indicators:
                indicators[spec.indicator_key] = spec.build()
        self._wire(specs, indicators)
        self._last_ts: int | None = None

    def _wire(self, specs: Sequence[FeatureSpec], indicators: dict[Any, Any]) -> None:
        """Group the indicators by the inputs they read and map each feature to its output."""
        self.names = tuple(spec.name for spec in specs)
        self._indicators = indicators
        groups: dict[str, list[tuple[Any, Any]]] = {"close": [], "hlc": [], "candle": []}
        for key, indicator in indicators.items():
            groups[_INPUTS.get(key[0], "close")].append((key, indicator))
        order = groups["close"] + groups["hlc"] + groups["candle"]
        position = {key: i for i, (key, _) in enumerate(order)}
        self._close_steps: list[Callable[..., Any]] = [i._step for _, i in groups["close"]]
        self._hlc_steps: list[Callable[..., Any]] = [i._step for _, i in groups["hlc"]]
        self._candle_steps: list[Callable[..., Any]] = [i._step for _, i in groups["candle"]]
        self._layout: tuple[tuple[int, int], ...] = tuple(
            (position[spec.indicator_key], -1 if spec.output is None else spec.output)
            for spec in specs
        )

    def __repr__(self) -> str:
        n = len(self.names)
        shown = ", ".join(self.names[:3]) + (", …" if n > 3 else "")
        return f"IndicatorBank({n} feature{'' if n == 1 else 's'}: {shown})"

    def __getstate__(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "indicators": list(self._indicators.values()),
            "last_ts": self._last_ts,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        specs = parse_features(state["names"])
        keys = list(dict.fromkeys(spec.indicator_key for spec in specs))
        self._wire(specs, dict(zip(keys, state["indicators"], strict=True)))
        self._last_ts = state["last_ts"]

    @property
    def indicators(self) -> tuple[Any, ...]:
        """The distinct indicator objects behind the features (shared ones appear once)."""
        return tuple(self._indicators.values())

    @property
    def warmup(self) -> int:
        """Closed candles needed before every feature has a value."""
        return max(indicator.warmup for indicator in self._indicators.values())

    def update(
        self,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts_ns: int,
    ) -> tuple[float, ...]:
        """Consume one closed candle (open time ``ts_ns``); return the features in ``names`` order.

        Raises ``ValueError`` naming the field for a bad candle; the bank is then unchanged.
        """
        values = []
        for name, value in (
            ("open", open),
            ("high", high),
            ("low", low),
            ("close", close),
            ("volume", volume),
        ):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self}: {name} must be a number, got {value!r}") from None
            if not isfinite(number) or number < 0.0 or (number == 0.0 and name != "volume"):
                bound = ">= 0" if name == "volume" else "> 0"
                raise ValueError(f"{self}: {name} must be finite and {bound}, got {number!r}")
            values.append(number)
        try:
            ts = int(ts_ns)
        except (TypeError, ValueError):
            raise ValueError(f"{self}: ts_ns must be an integer, got {ts_ns!r}") from None
        if self._last_ts is not None and ts <= self._last_ts:
            raise ValueError(f"{self}: ts_ns must increase, got {ts} after {self._last_ts}")
        _, h, lo, c, v = values
        self._last_ts = ts
        return self._step(h, lo, c, v, ts)

    def _step(self, h: float, lo: float, c: float, v: float, ts: int) -> tuple[float, ...]:
        results = [step(c) for step in self._close_steps]
        for step in self._hlc_steps:
            results.append(step(h, lo, c))
        for step in self._candle_steps:
            results.append(step(h, lo, c, v, ts))
        return tuple([results[i] if j < 0 else results[i][j] for i, j in self._layout])

    def update_batch(self, candles: CandleBatch) -> dict[str, np.ndarray]:
        """Consume a batch of closed candles; return one float64 array per feature name.

        The whole batch is validated first (same rules as ``update``, errors name the row);
        on a bad row nothing is consumed.
        """
        self._check_batch(candles)
        n = len(candles)
        if n == 0:
            return {name: np.empty(0, dtype=np.float64) for name in self.names}
        step = self._step
        rows = list(
            map(
                step,
                candles.high.tolist(),
                candles.low.tolist(),
                candles.close.tolist(),
                candles.volume.tolist(),
                candles.ts_ns.tolist(),
            )
        )
        self._last_ts = int(candles.ts_ns[-1])
        table = np.array(rows, dtype=np.float64).reshape(n, len(self.names)).T.copy()
        return dict(zip(self.names, table, strict=True))

    def _check_batch(self, candles: CandleBatch) -> None:
        where = f"{self} on {candles.symbol} {candles.timeframe}"
        for name in ("open", "high", "low", "close", "volume"):
            column = np.asarray(getattr(candles, name), dtype=np.float64)
            if column.shape != candles.ts_ns.shape:
                raise ValueError(f"{where}: {name} has shape {column.shape}")
            bad = ~np.isfinite(column)
            bad |= column < 0.0 if name == "volume" else column <= 0.0
            if bad.any():
                i = int(np.argmax(bad))
                bound = ">= 0" if name == "volume" else "> 0"
                raise ValueError(
                    f"{where}: {name}[{i}] must be finite and {bound}, got {float(column[i])!r}"
                )
        ts = candles.ts_ns
        if len(ts) == 0:
            return
        if self._last_ts is not None and int(ts[0]) <= self._last_ts:
            raise ValueError(f"{where}: ts_ns[0] must increase, got {ts[0]} after {self._last_ts}")
        back = np.flatnonzero(np.diff(ts) <= 0)
        if len(back):
            i = int(back[0]) + 1
            raise ValueError(f"{where}: ts_ns[{i}] must increase, got {ts[i]} after {ts[i - 1]}")
