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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import isfinite
from typing import Any

import numpy as np

from operators.indicators._base import Indicator
from operators.indicators._program import Program, float_column, int_column
from operators.indicators.specs import (
    ACCEPTED_FORMS,
    FeatureSpec,
    parse_feature,
    parse_features,
)
from schemas.batches import CandleBatch, FeatureTable

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


_FIELDS = ("open", "high", "low", "close", "volume")

_first_bad_candle: Any = None


def _batch_checker() -> Any:
    """The compiled batch check, imported (with numba) on first use."""
    global _first_bad_candle
    if _first_bad_candle is None:
        from operators.indicators._kernels import first_bad_candle

        _first_bad_candle = first_bad_candle
    return _first_bad_candle


@dataclass(frozen=True, eq=False)
class _BankLayout:
    """Everything about a bank that depends only on its feature names (shared, immutable)."""

    names: tuple[str, ...]
    indicators: tuple[tuple[type, tuple[Any, ...]], ...]
    """Distinct indicators (class, parameters), in order of first use by a feature."""
    program: Program
    rows: np.ndarray
    """Row of the program's output holding each feature, in ``names`` order."""
    identity: bool
    """True when ``rows`` is 0, 1, 2 … (the output needs no reordering)."""
    warmup: int
    row_of: dict[str, int]
    """Each feature name's row in a batch's :class:`~schemas.batches.FeatureTable`."""


@lru_cache(maxsize=256)
def _layout_for(names: tuple[str, ...]) -> _BankLayout:
    """The layout of a bank of ``names`` (parsed once per distinct tuple of names)."""
    specs = parse_features(names)
    keys: dict[tuple[str, tuple[int | float, ...]], FeatureSpec] = {}
    for spec in specs:
        keys.setdefault(spec.indicator_key, spec)
    order = list(keys)
    program = Program.of([keys[key].indicator_class.layout_for(*keys[key].params) for key in order])
    position = {key: j for j, key in enumerate(order)}
    rows = np.array(
        [program.out_rows[position[s.indicator_key]] + (s.output or 0) for s in specs],
        dtype=np.int64,
    )
    names = tuple(spec.name for spec in specs)
    return _BankLayout(
        names=names,
        indicators=tuple((keys[key].indicator_class, keys[key].params) for key in order),
        program=program,
        rows=rows,
        identity=bool(np.array_equal(rows, np.arange(program.outputs))),
        warmup=max(spec.warmup for spec in specs),
        row_of={name: i for i, name in enumerate(names)},
    )


def _vector(saved: bytes | np.ndarray, dtype: type) -> np.ndarray:
    """A state vector from its snapshot: raw bytes (or an array, the earlier form), writable."""
    if isinstance(saved, bytes):
        return np.frombuffer(saved, dtype=dtype).copy()
    return np.array(saved, dtype=dtype)


class IndicatorBank:
    """The features of one (symbol, timeframe): one closed candle in, one float per feature out.

    The state of every indicator of the bank lives in two flat vectors, advanced over a whole
    batch by one call of the compiled kernels (see :mod:`._program`); copying, pickling and
    restoring a bank copies those vectors and nothing else.

    >>> bank = IndicatorBank()
    >>> bank.names[:3]
    ('sma_20', 'ema_12', 'ema_26')
    >>> len(bank.update(1.0, 1.0, 1.0, 1.0, 1.0, 0)) == len(DEFAULT_FEATURES)
    True
    """

    __slots__ = ("_f", "_indicators", "_last_ts", "_layout", "_s")

    def __init__(self, features: Sequence[str] | str = DEFAULT_FEATURES) -> None:
        if isinstance(features, str):
            features = [part.strip() for part in features.split(",")]
        try:
            layout = _layout_for(tuple(features))
        except TypeError:  # an unhashable name: let the parser say what is wrong with it
            parse_features(features)
            raise
        self._start(layout, None)
        self._f, self._s = self._layout.program.fresh_state()

    def _start(self, layout: _BankLayout, last_ts: int | None) -> None:
        self._layout = layout
        self._last_ts = last_ts
        self._indicators: tuple[Indicator, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The feature names, in output order."""
        return self._layout.names

    def __repr__(self) -> str:
        n = len(self.names)
        shown = ", ".join(self.names[:3]) + (", …" if n > 3 else "")
        return f"IndicatorBank({n} feature{'' if n == 1 else 's'}: {shown})"

    def __getstate__(self) -> dict[str, Any]:
        """The two state vectors as raw bytes (an array pickles with ~150 bytes of numpy
        reconstruction around its data; a symbol's snapshot holds one bank per timeframe)."""
        f, s = self._f.tobytes(), self._s.tobytes()
        return {"names": self.names, "f": f, "s": s, "last_ts": self._last_ts}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._start(_layout_for(tuple(state["names"])), state["last_ts"])
        self._f = _vector(state["f"], np.float64)
        self._s = _vector(state["s"], np.int64)

    def __deepcopy__(self, memo: dict[int, Any]) -> IndicatorBank:
        clone = IndicatorBank.__new__(IndicatorBank)
        clone._start(self._layout, self._last_ts)
        clone._f, clone._s = self._f.copy(), self._s.copy()
        return clone

    @property
    def indicators(self) -> tuple[Any, ...]:
        """The distinct indicator objects behind the features (shared ones appear once).

        They are views of the bank's state: updating one updates the bank.
        """
        if self._indicators is None:
            program = self._layout.program
            views = []
            for j, (cls, params) in enumerate(self._layout.indicators):
                f_part, s_part = program.state_slices(j)
                views.append(cls.bound_to(params, self._f[f_part], self._s[s_part]))
            self._indicators = tuple(views)
        return self._indicators

    @property
    def warmup(self) -> int:
        """Closed candles needed before every feature has a value."""
        return self._layout.warmup

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
        for name, value in zip(_FIELDS, (open, high, low, close, volume), strict=True):
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
        _, h, lo, c, v = (np.array([x], dtype=np.float64) for x in values)
        stamp = np.array([ts], dtype=np.int64)
        out = self._layout.program.run(self._f, self._s, h, lo, c, v, stamp)
        self._last_ts = ts
        return tuple(out[self._layout.rows, 0].tolist())

    def update_batch(self, candles: CandleBatch) -> FeatureTable:
        """Consume a batch of closed candles; return one float64 array per feature name.

        The whole batch is validated first (same rules as ``update``, errors name the row);
        on a bad row nothing is consumed.
        """
        columns = self._checked_columns(candles)
        _, high, low, close, volume, ts = columns
        layout = self._layout
        out = layout.program.run(self._f, self._s, high, low, close, volume, ts)
        if len(ts):
            self._last_ts = int(ts[-1])
        table = out if layout.identity else out[layout.rows]
        return FeatureTable(layout.row_of, table)

    def _checked_columns(self, candles: CandleBatch) -> list[np.ndarray]:
        """The batch's columns in kernel form, or ``ValueError`` naming the first bad row."""
        ts = int_column(candles.ts_ns)
        columns = [
            float_column(candles.open),
            float_column(candles.high),
            float_column(candles.low),
            float_column(candles.close),
            float_column(candles.volume),
        ]
        last = self._last_ts
        if any(column.shape != ts.shape for column in columns):
            name = next(n for n, c in zip(_FIELDS, columns, strict=True) if c.shape != ts.shape)
            shape = getattr(candles, name).shape
            raise ValueError(f"{self._where(candles)}: {name} has shape {shape}")
        field, i = _batch_checker()(*columns, ts, 0 if last is None else last, last is not None)
        if field == 5:
            before = ts[i - 1] if i else last
            raise ValueError(
                f"{self._where(candles)}: ts_ns[{i}] must increase, got {ts[i]} after {before}"
            )
        if field >= 0:
            name = _FIELDS[field]
            bound = ">= 0" if name == "volume" else "> 0"
            value = float(columns[field][i])
            raise ValueError(
                f"{self._where(candles)}: {name}[{i}] must be finite and {bound}, got {value!r}"
            )
        return [*columns, ts]

    def _where(self, candles: CandleBatch) -> str:
        return f"{self} on {candles.symbol} {candles.timeframe}"
