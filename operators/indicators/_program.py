"""Indicators as data: a kind code, parameters and state vectors, run by the compiled kernels.

A :class:`StateLayout` says what one indicator instance needs (kind, parameters, initial
``f``/``s`` state, number of outputs). A :class:`Program` lays several out side by side in two
flat state vectors and runs them over a batch with one call of
:func:`operators.indicators._kernels.run_program`; a stand-alone indicator is a program of one.
Programs are immutable and cached, so creating, copying or restoring an indicator or a bank only
copies its two small state vectors.

Numba is imported on the first run, not on import, so that importing the package stays cheap.

>>> program = Program.of([StateLayout(KIND_EMA, (2,), np.array([NAN, 0.0]), np.zeros(1), 1)])
>>> f, s = program.fresh_state()
>>> close = float_column([1, 2, 3])
>>> program.run(f, s, close, close, close, close, NO_TIMES).tolist()
[[nan, 1.5, 2.5]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

NAN = float("nan")

KIND_SMA, KIND_EMA, KIND_RSI, KIND_ATR, KIND_MACD = 0, 1, 2, 3, 4
KIND_BOLLINGER, KIND_VOLATILITY, KIND_ZSCORE, KIND_VWAP = 5, 6, 7, 8
"""Kind codes; the same numbers as in :mod:`._kernels`."""

_F64, _I64 = np.dtype(np.float64), np.dtype(np.int64)

NO_TIMES = np.zeros(0, dtype=np.int64)
"""The ``ts`` column for indicators that do not read time (all but VWAP)."""

_run_program: Callable[..., None] | None = None


def _kernel() -> Callable[..., None]:
    """The compiled ``run_program``, imported (and numba with it) on first use."""
    global _run_program
    if _run_program is None:
        from operators.indicators._kernels import run_program

        _run_program = run_program
    return _run_program


def float_column(values: ArrayLike) -> np.ndarray:
    """A writable, C-contiguous float64 array: the one input type the kernels are compiled for.

    (Read-only arrays, e.g. zero-copy views of Arrow memory, are copied: numba would compile
    a second version of every kernel for them.)
    """
    if isinstance(values, np.ndarray):
        flags = values.flags
        if values.dtype == _F64 and flags.c_contiguous and flags.writeable:
            return values
    return np.array(values, dtype=np.float64, order="C")


def int_column(values: ArrayLike) -> np.ndarray:
    """A writable, C-contiguous int64 array (the ``ts`` column)."""
    if isinstance(values, np.ndarray):
        flags = values.flags
        if values.dtype == _I64 and flags.c_contiguous and flags.writeable:
            return values
    return np.array(values, dtype=np.int64, order="C")


@dataclass(frozen=True, slots=True)
class StateLayout:
    """One indicator instance: kind, parameters (up to three), initial state, output count."""

    kind: int
    params: tuple[float, ...]
    f_initial: np.ndarray
    s_initial: np.ndarray
    outputs: int


def state_layout(
    kind: int,
    params: tuple[float, ...],
    f: Sequence[float],
    s: Sequence[int],
    outputs: int = 1,
) -> StateLayout:
    """A :class:`StateLayout` from plain lists of initial values."""
    return StateLayout(
        kind, params, np.array(f, dtype=np.float64), np.array(s, dtype=np.int64), outputs
    )


@dataclass(frozen=True, eq=False, slots=True)
class Program:
    """Several indicators over one pair of flat state vectors (see the module docstring)."""

    kinds: np.ndarray
    params: np.ndarray
    f_offsets: np.ndarray
    s_offsets: np.ndarray
    out_rows: np.ndarray
    outputs: int
    f_initial: np.ndarray
    s_initial: np.ndarray

    @classmethod
    def of(cls, layouts: Sequence[StateLayout]) -> Program:
        params = np.zeros((len(layouts), 3), dtype=np.float64)
        for j, layout in enumerate(layouts):
            params[j, : len(layout.params)] = layout.params
        f_sizes = [len(layout.f_initial) for layout in layouts]
        s_sizes = [len(layout.s_initial) for layout in layouts]
        outputs = [layout.outputs for layout in layouts]
        return cls(
            kinds=np.array([layout.kind for layout in layouts], dtype=np.int64),
            params=params,
            f_offsets=np.concatenate(([0], np.cumsum(f_sizes))).astype(np.int64),
            s_offsets=np.concatenate(([0], np.cumsum(s_sizes))).astype(np.int64),
            out_rows=np.concatenate(([0], np.cumsum(outputs)[:-1])).astype(np.int64),
            outputs=int(sum(outputs)),
            f_initial=np.concatenate([layout.f_initial for layout in layouts]).astype(np.float64),
            s_initial=np.concatenate([layout.s_initial for layout in layouts]).astype(np.int64),
        )

    def fresh_state(self) -> tuple[np.ndarray, np.ndarray]:
        """New ``f`` and ``s`` vectors in the initial state."""
        return self.f_initial.copy(), self.s_initial.copy()

    def state_slices(self, j: int) -> tuple[slice, slice]:
        """Where indicator ``j``'s state sits in ``f`` and ``s``."""
        f0, f1 = int(self.f_offsets[j]), int(self.f_offsets[j + 1])
        s0, s1 = int(self.s_offsets[j]), int(self.s_offsets[j + 1])
        return slice(f0, f1), slice(s0, s1)

    def run(
        self,
        f: np.ndarray,
        s: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        ts: np.ndarray,
    ) -> np.ndarray:
        """Advance the state over the candles; return the outputs, shape ``(outputs, n)``.

        Inputs must already be checked (finite, ordered) and in kernel form
        (:func:`float_column`, :func:`int_column`): the kernels check nothing.
        """
        out = np.empty((self.outputs, len(close)), dtype=np.float64)
        _kernel()(
            self.kinds,
            self.params,
            self.f_offsets,
            self.s_offsets,
            self.out_rows,
            f,
            s,
            high,
            low,
            close,
            volume,
            ts,
            out,
        )
        return out
