"""The rows one engine release hands to the generators at once, as columns.

The engine releases rows in processing order (close time, then shortest timeframe first). A
generator that reads them as a batch (``on_rows``) must decide exactly what it would have
decided row by row, so a :class:`Release` also carries what the :class:`MarketView` held before
the first row, and tells, for any row, which rows of another timeframe the view held when that
row was processed: every row of an earlier *instant* (a run of rows with one close time, all
pushed into the view before any of them is processed) and of its own.

>>> from schemas.common import Timeframe
>>> M15, H1 = Timeframe.M15, Timeframe.H1
>>> def row(tf, i, close):
...     return CandleRow("X", tf, i * tf.ns, close, close, close, close, 1.0, {"rsi_14": close})
>>> view = MarketView()
>>> view.push(row(M15, 0, 1.0))
>>> release = Release([row(M15, 1, 2.0), row(M15, 2, 3.0), row(M15, 3, 4.0), row(H1, 0, 9.0)],
...                   view)
>>> release.positions(M15), release.held_count(M15), release.column(M15, "rsi_14").tolist()
([0, 1, 2], 1, [1.0, 2.0, 3.0, 4.0])
>>> release.as_of(H1, M15).tolist()      # the 15m row closing at 1:00 sees the 1h row of 1:00
[-1, -1, 0]
"""

from __future__ import annotations

import math

import numpy as np

from operators.signals.market_view import CandleRow, MarketView
from schemas.common import Timeframe

_CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")


class Release:
    """Released rows (processing order) over the view as it was before them."""

    def __init__(self, rows: list[CandleRow], view: MarketView) -> None:
        self.rows = rows
        self.view = view
        instant = 0
        last_close = None
        self._instants: list[int] = []
        self._positions: dict[Timeframe, list[int]] = {}
        for position, row in enumerate(rows):
            close_ns = row.close_ns
            if close_ns != last_close:
                instant += 1
                last_close = close_ns
            self._instants.append(instant)
            self._positions.setdefault(row.timeframe, []).append(position)
        self._columns: dict[tuple[Timeframe, str], np.ndarray] = {}
        self._as_of: dict[tuple[Timeframe, Timeframe], np.ndarray] = {}

    def timeframes(self) -> list[Timeframe]:
        """Timeframes with rows in this release."""
        return list(self._positions)

    def positions(self, timeframe: Timeframe) -> list[int]:
        """Positions in :attr:`rows` of the timeframe's new rows, oldest first."""
        return self._positions.get(timeframe, [])

    def new_rows(self, timeframe: Timeframe) -> list[CandleRow]:
        return [self.rows[p] for p in self.positions(timeframe)]

    def held_rows(self, timeframe: Timeframe) -> list[CandleRow]:
        """The timeframe's rows the view held before the release, oldest first."""
        return self.view.held(timeframe)

    def held_count(self, timeframe: Timeframe) -> int:
        return len(self.view.held(timeframe))

    def all_rows(self, timeframe: Timeframe) -> list[CandleRow]:
        """Held rows, then the new ones: the index space of :meth:`column` and :meth:`as_of`."""
        return self.held_rows(timeframe) + self.new_rows(timeframe)

    def column(self, timeframe: Timeframe, name: str) -> np.ndarray:
        """``name`` over the timeframe's held and new rows (NaN where a row lacks it)."""
        key = (timeframe, name)
        values = self._columns.get(key)
        if values is None:
            rows = self.all_rows(timeframe)
            if name in _CANDLE_COLUMNS:
                values = np.array([getattr(r, name) for r in rows], dtype=np.float64)
            else:
                values = np.array([r.features.get(name, math.nan) for r in rows], dtype=np.float64)
            self._columns[key] = values
        return values

    def as_of(self, timeframe: Timeframe, at: Timeframe) -> np.ndarray:
        """For each new row of ``at``: the index (in ``timeframe``'s held + new rows) of the
        latest ``timeframe`` row the view held when that row was processed, -1 if none."""
        key = (timeframe, at)
        index = self._as_of.get(key)
        if index is None:
            held = self.held_count(timeframe)
            own = np.array([self._instants[p] for p in self.positions(timeframe)], dtype=np.int64)
            wanted = np.array([self._instants[p] for p in self.positions(at)], dtype=np.int64)
            index = held + np.searchsorted(own, wanted, side="right") - 1
            self._as_of[key] = index
        return index


class AsOfView:
    """The view as one released row saw it: ``latest``/``previous`` of any timeframe.

    Lets the per-row helpers (operand values a signal reports, derived confidence) run
    unchanged on a row of a batch.
    """

    __slots__ = ("_index", "_release", "_rows")

    def __init__(self, release: Release, at: Timeframe, new_index: int) -> None:
        self._release = release
        self._index = {
            tf: int(release.as_of(tf, at)[new_index])
            for tf in set(release.timeframes()) | set(release.view.timeframes())
        }
        self._rows: dict[Timeframe, list[CandleRow]] = {}

    def _row(self, timeframe: Timeframe, back: int) -> CandleRow | None:
        index = self._index.get(timeframe, -1) - back
        if index < 0:
            return None
        rows = self._rows.get(timeframe)
        if rows is None:
            rows = self._rows[timeframe] = self._release.all_rows(timeframe)
        return rows[index]

    def latest(self, timeframe: Timeframe) -> CandleRow | None:
        return self._row(timeframe, 0)

    def previous(self, timeframe: Timeframe) -> CandleRow | None:
        return self._row(timeframe, 1)
