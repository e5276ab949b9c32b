"""Batches as they wait in the trading core's event buffer: columns, not tuples per row.

The trading core buffers every usable bar until nothing earlier can still arrive; with
thousands of symbols that is millions of bars at once. Held as one tuple of Python objects
each, a bar costs about 300 bytes; held here as machine-typed columns (:mod:`array`), 48. A bar
becomes the core's :data:`~operators.execution.engine_state.Bar` tuple only when it is handed
out (indexing builds it from plain Python numbers, never numpy scalars).

>>> import numpy as np
>>> bars = BarColumns.of("A/B", 60, np.array([0, 60]), *[np.array([1.0, 2.0])] * 5)
>>> len(bars), bars[1], list(bars.known())
(2, ('A/B', 60, 60, 2.0, 2.0, 2.0, 2.0, 2.0), [60, 120])
>>> atr = SymbolValues.of("A/B", np.array([0.5, 0.7]))
>>> len(atr), atr[1]
(2, ('A/B', 0.7))
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, overload

import numpy as np

from operators.execution.engine_state import Bar


def _typed(code: str, column: np.ndarray) -> array[Any]:
    held = array(code)
    held.frombytes(
        np.ascontiguousarray(column, dtype="=i8" if code == "q" else "=f8").view(np.uint8)
    )
    return held


def int64_array(column: np.ndarray) -> array[int]:
    """``column`` as a compact array of Python-int items (e.g. the instants rows are known)."""
    return _typed("q", column)


Row = TypeVar("Row")


class _Rows(Sequence[Row]):
    """Rows read out of columns: a subclass builds row ``i`` (:meth:`row`) and names its
    attributes in ``__slots__``, which pickle as one compact tuple."""

    __slots__ = ()

    def row(self, i: int) -> Row:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> Row: ...

    @overload
    def __getitem__(self, i: slice) -> list[Row]: ...

    def __getitem__(self, i: int | slice) -> Row | list[Row]:
        if isinstance(i, slice):
            return [self.row(j) for j in range(*i.indices(len(self)))]
        return self.row(i)

    def __iter__(self) -> Iterator[Row]:
        return (self.row(i) for i in range(len(self)))

    def tail_joined(self, start: int, later: _Rows[Row]) -> _Rows[Row] | None:
        """Rows ``start`` on followed by the rows of ``later`` (new columns; ``None`` when
        ``later`` is of another kind or its other attributes, e.g. the symbol, differ).

        >>> a = SymbolValues.of("A/B", np.array([1.0, 2.0]))
        >>> list(a.tail_joined(1, SymbolValues.of("A/B", np.array([3.0]))))
        [('A/B', 2.0), ('A/B', 3.0)]
        >>> a.tail_joined(0, SymbolValues.of("C/D", np.array([3.0]))) is None
        True
        """
        if type(later) is not type(self):
            return None
        joined = type(self).__new__(type(self))
        for name in self.__slots__:
            mine, theirs = getattr(self, name), getattr(later, name)
            if isinstance(mine, array):
                setattr(joined, name, mine[start:] + theirs)
            elif mine == theirs:
                setattr(joined, name, mine)
            else:
                return None
        return joined

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


class BarColumns(_Rows[Bar]):
    """Bars of one symbol and timeframe; ``bars[i]`` is bar ``i`` as a ``Bar`` tuple."""

    __slots__ = ("close", "high", "low", "open", "open_ns", "symbol", "tf_ns", "volume")

    def __init__(
        self,
        symbol: str,
        tf_ns: int,
        open_ns: array[int],
        open_: array[float],
        high: array[float],
        low: array[float],
        close: array[float],
        volume: array[float],
    ) -> None:
        self.symbol, self.tf_ns = symbol, tf_ns
        self.open_ns, self.open, self.high = open_ns, open_, high
        self.low, self.close, self.volume = low, close, volume

    @classmethod
    def of(
        cls,
        symbol: str,
        tf_ns: int,
        open_ns: np.ndarray,
        open_: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
    ) -> BarColumns:
        """Copy numpy columns (equal lengths) into compact typed arrays."""
        prices = (_typed("d", column) for column in (open_, high, low, close, volume))
        return cls(symbol, tf_ns, _typed("q", open_ns), *prices)

    @classmethod
    def one(
        cls,
        symbol: str,
        tf_ns: int,
        open_ns: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> BarColumns:
        """One bar from Python numbers (a live feed's): what :meth:`of` makes of it.

        >>> BarColumns.one("A/B", 60, 0, 1.0, 2.0, 0.5, 1.5, 3.0)[0]
        ('A/B', 0, 60, 1.0, 2.0, 0.5, 1.5, 3.0)
        """
        prices = (array("d", (value,)) for value in (open_, high, low, close, volume))
        return cls(symbol, tf_ns, array("q", (open_ns,)), *prices)

    def known(self) -> array[int]:
        """When each bar became known: its close (open time + the timeframe)."""
        return int64_array(np.frombuffer(self.open_ns, dtype=np.int64) + self.tf_ns)

    def __len__(self) -> int:
        return len(self.open_ns)

    def row(self, i: int) -> Bar:
        return (
            self.symbol,
            self.open_ns[i],
            self.tf_ns,
            self.open[i],
            self.high[i],
            self.low[i],
            self.close[i],
            self.volume[i],
        )


class SymbolValues(_Rows[tuple[str, float]]):
    """One feature column's values of one symbol; ``values[i]`` is ``(symbol, value)``."""

    __slots__ = ("symbol", "values")

    def __init__(self, symbol: str, values: array[float]) -> None:
        self.symbol, self.values = symbol, values

    @classmethod
    def of(cls, symbol: str, values: np.ndarray) -> SymbolValues:
        return cls(symbol, _typed("d", values))

    def __len__(self) -> int:
        return len(self.values)

    def row(self, i: int) -> tuple[str, float]:
        return self.symbol, self.values[i]
