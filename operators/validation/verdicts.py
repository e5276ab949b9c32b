"""Per-row verdicts of one batch: the first failed check of each row, and its dead letter."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Protocol

import numpy as np

from operators.validation.reasons import Reason
from schemas.common import ns_to_datetime
from schemas.records import DeadLetter


class Rows(Protocol):
    """What a batch must offer to be judged row by row (TradeBatch, CandleBatch)."""

    symbol: str
    source: str
    ts_ns: np.ndarray

    def __len__(self) -> int: ...

    def row(self, i: int) -> dict[str, object]: ...


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def row_json(rows: Rows, i: int) -> str:
    """Row ``i`` as JSON; NaN and infinities are written as strings.

    >>> from schemas.batches import TradeBatch
    >>> row_json(TradeBatch.from_columns("X/Y", [1], [float("nan")], [2.0]), 0)
    '{"symbol": "X/Y", "ts_ns": 1, "price": "nan", "amount": 2.0, "trade_id": -1, "side": 0}'
    """
    return json.dumps({k: _json_safe(v) for k, v in rows.row(i).items()})


class Verdicts:
    """The first failing check of every row of a batch; checks run in order of importance.

    ``reject(mask, reason, describe)`` marks the rows of ``mask`` that are still good;
    ``describe(i)`` is called once per newly rejected row and names the field and value.

    >>> v = Verdicts(3)
    >>> v.reject(np.array([False, True, True]), Reason.NON_FINITE_PRICE, lambda i: f"row {i}")
    >>> v.reject(np.array([True, True, False]), Reason.PRICE_OUTLIER, lambda i: f"row {i}")
    >>> v.ok.tolist(), dict(v.counts())
    ([False, False, False], {'non_finite_price': 2, 'price_outlier': 1})
    """

    def __init__(self, n: int) -> None:
        self._code = np.full(n, -1, dtype=np.int16)
        self._reasons: list[Reason] = []
        self._details: dict[int, str] = {}

    @property
    def ok(self) -> np.ndarray:
        """Rows that passed every check so far."""
        return self._code < 0

    @property
    def all_ok(self) -> bool:
        return not self._details

    def reject(self, mask: np.ndarray, reason: Reason, describe: Callable[[int], str]) -> None:
        rows = np.flatnonzero(mask & self.ok)
        if rows.size == 0:
            return
        self._code[rows] = len(self._reasons)
        self._reasons.append(reason)
        for i in rows.tolist():
            self._details[i] = describe(i)

    def counts(self) -> Counter[str]:
        """Rejected rows per reason."""
        counts: Counter[str] = Counter()
        for code, reason in enumerate(self._reasons):
            counts[reason.value] += int(np.count_nonzero(self._code == code))
        return counts

    def dead_letters(self, rows: Rows, first_row: int = 0, label: str = "row") -> list[DeadLetter]:
        """One dead letter per rejected row, in row order.

        ``first_row`` is the position of the batch's first row in its stream (the validator
        counts them): the occurrence ``"{label} #{first_row + i}"`` tells two identical bad rows
        apart, and is the same when a resume judges the same row again.
        """
        letters = []
        for i in sorted(self._details):
            letters.append(
                DeadLetter(
                    source=rows.source,
                    symbol=rows.symbol,
                    reason=self._reasons[self._code[i]].value,
                    detail=self._details[i],
                    raw=row_json(rows, i),
                    ts=ns_to_datetime(int(rows.ts_ns[i])),
                    occurrence=f"{label} #{first_row + i}",
                )
            )
        return letters
