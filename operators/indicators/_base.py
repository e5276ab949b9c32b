"""Shared shape of the indicators: parameters, two state vectors, and the compiled program.

A subclass sets its parameters in ``_configure`` and describes its state in ``layout_for``; this
base keeps the state (``_f`` float64 and ``_s`` int64 vectors, see :mod:`._kernels` for their
layout), runs it through the compiled program, and pickles it exactly. ``SeriesIndicator`` adds
the checked ``update``/``update_many`` of indicators that read one number per step.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from operators.indicators._inputs import checked_column, checked_float
from operators.indicators._program import (
    NO_TIMES,
    Program,
    StateLayout,
    float_column,
    int_column,
)


@lru_cache(maxsize=512)
def _program_of(layout_key: tuple[type, tuple[Any, ...]]) -> Program:
    cls, params = layout_key
    return Program.of([cls.layout_for(*params)])


class Indicator:
    """Base of every indicator: parameters, state vectors and the compiled program of one.

    Subclasses implement ``_configure(*params)`` (check and store the parameters),
    ``_arguments()`` (the parameters back, for pickling) and the classmethod
    ``layout_for(*params)``.
    """

    __slots__ = ("_f", "_program", "_s")

    _f: np.ndarray
    _s: np.ndarray
    _program: Program

    def _configure(self, *params: Any) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def _arguments(self) -> tuple[Any, ...]:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @classmethod
    def layout_for(cls, *params: Any) -> StateLayout:  # pragma: no cover - overridden
        raise NotImplementedError

    def _start(self) -> None:
        """Fresh state for the configured parameters."""
        self._program = _program_of((type(self), self._arguments()))
        self._f, self._s = self._program.fresh_state()

    @classmethod
    def bound_to(cls, params: tuple[Any, ...], f: np.ndarray, s: np.ndarray) -> Indicator:
        """An indicator whose state *is* ``f`` and ``s`` (views into an indicator bank)."""
        indicator = cls.__new__(cls)
        indicator._configure(*params)
        indicator._program = _program_of((cls, indicator._arguments()))
        indicator._f, indicator._s = f, s
        return indicator

    def _run(
        self,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        ts: np.ndarray = NO_TIMES,
    ) -> np.ndarray:
        """Outputs over checked columns, shape ``(outputs, n)``."""
        return self._program.run(
            self._f,
            self._s,
            float_column(high),
            float_column(low),
            float_column(close),
            float_column(volume),
            int_column(ts),
        )

    def __getstate__(self) -> dict[str, Any]:
        return {"params": self._arguments(), "f": self._f.copy(), "s": self._s.copy()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._configure(*state["params"])
        self._program = _program_of((type(self), self._arguments()))
        self._f = np.array(state["f"], dtype=np.float64)
        self._s = np.array(state["s"], dtype=np.int64)


class SeriesIndicator(Indicator):
    """Base of indicators that read one number per step (usually the close).

    >>> from operators.indicators import SMA
    >>> sma = SMA(2)
    >>> sma.update(1.0), sma.ready, sma.update_many([3.0, 5.0]).tolist(), sma.value
    (nan, False, [2.0, 4.0], 4.0)
    """

    __slots__ = ()

    VALUE: ClassVar[int] = 0
    """Index of the latest output in ``_f``."""

    @property
    def value(self) -> float:
        """The latest output (``nan`` until warm)."""
        return float(self._f[self.VALUE])

    @property
    def ready(self) -> bool:
        """True once the indicator produces values."""
        value = self._f[self.VALUE]
        return bool(value == value)

    def update(self, value: float) -> float:
        """Consume one value and return the current output (``nan`` until warm).

        Raises ``ValueError`` naming the input when ``value`` is NaN, ±inf or not a number.
        """
        column = np.array([checked_float(value, "value", self)])
        return float(self._run(column, column, column, column)[0, 0])

    def update_many(self, values: ArrayLike) -> np.ndarray:
        """Consume a 1-D batch in order; return the output after each value (float64).

        The whole batch is checked first: on a bad value nothing is consumed.
        """
        column = checked_column(values, "values", self)
        return self._run(column, column, column, column)[0]
