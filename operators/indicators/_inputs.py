"""Input checks shared by the indicators: finite plain floats in, a clear error otherwise.

Every public ``update`` coerces its arguments to plain Python ``float`` (so no numpy scalar ever
enters an indicator's state) and rejects NaN and ±inf with a ``ValueError`` naming the indicator,
the input and the value. ``update_many`` checks whole columns at once before touching the state,
so a bad batch leaves the indicator exactly as it was.

>>> checked_float(2, "close", "SMA(3)")
2.0
>>> checked_float(float("nan"), "close", "SMA(3)")
Traceback (most recent call last):
ValueError: SMA(3): close must be a finite number, got nan
"""

from __future__ import annotations

from math import isfinite

import numpy as np
from numpy.typing import ArrayLike

NAN = float("nan")


def checked_float(value: object, name: str, owner: object) -> float:
    """``value`` as a plain finite float, or ``ValueError`` naming ``owner`` and ``name``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}") from None
    if not isfinite(number):
        raise ValueError(f"{owner}: {name} must be a finite number, got {number!r}")
    return number


def checked_column(values: ArrayLike, name: str, owner: object) -> np.ndarray:
    """``values`` as a 1-D float64 array with every element finite.

    >>> checked_column([1, 2, float("inf")], "high", "ATR(14)")
    Traceback (most recent call last):
    ValueError: ATR(14): high[2] must be a finite number, got inf
    """
    try:
        column = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be numbers") from None
    if column.ndim != 1:
        raise ValueError(f"{owner}: {name} must be one-dimensional, got shape {column.shape}")
    bad = ~np.isfinite(column)
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(
            f"{owner}: {name}[{index}] must be a finite number, got {float(column[index])!r}"
        )
    return column


def checked_columns(owner: object, **columns: ArrayLike) -> list[np.ndarray]:
    """Several named columns, each checked, all of one length (in the order given).

    >>> [c.tolist() for c in checked_columns("X", high=[2, 3], low=[1, 2])]
    [[2.0, 3.0], [1.0, 2.0]]
    >>> checked_columns("X", high=[2, 3], low=[1])
    Traceback (most recent call last):
    ValueError: X: columns differ in length: high=2, low=1
    """
    arrays = [checked_column(values, name, owner) for name, values in columns.items()]
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        detail = ", ".join(f"{n}={len(a)}" for n, a in zip(columns, arrays, strict=True))
        raise ValueError(f"{owner}: columns differ in length: {detail}")
    return arrays


def checked_period(period: int, owner: str, minimum: int = 1) -> int:
    """A window length: an ``int`` of at least ``minimum``.

    >>> checked_period(0, "SMA")
    Traceback (most recent call last):
    ValueError: SMA: period must be an integer >= 1, got 0
    """
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < minimum:
        raise ValueError(f"{owner}: period must be an integer >= {minimum}, got {period!r}")
    return int(period)
