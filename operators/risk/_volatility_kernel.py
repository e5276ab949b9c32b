"""Compiled (numba) loop of the volatility breaker over a stretch of closes.

:func:`absorb_until_spike` takes closes one by one exactly as
:meth:`~operators.risk.breakers.CircuitBreakers.on_close` does — the log return against the
previous close, the spike test against the sigma *before* the return enters the average, then
the exponentially weighted variance update — and stops at the first close that is a spike,
leaving the state as it was before that close. The same float operations in the same order
(``math.log`` and ``math.sqrt`` of the platform's C library, no ``fastmath``), so the state it
returns is the one the one-by-one calls leave, to the last bit; the tests compare both.

Compiled on first use and cached on disk.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def absorb_until_spike(
    closes: np.ndarray,
    prev_close: float,
    variance: float,
    returns: int,
    warmup: int,
    multiple: float,
    alpha: float,
) -> tuple[int, float, float, int]:
    """``(taken, prev_close, variance, returns)`` after the closes before the first spike.

    A close that a return cannot use (it or the previous close not positive, or NaN) restarts
    the state at it (variance 0, no returns), as ``_Volatility(prev_close=close)`` does.
    """
    for i in range(closes.size):
        close = closes[i]
        if not (close > 0.0 and prev_close > 0.0):
            prev_close, variance, returns = close, 0.0, 0
            continue
        ret = math.log(close / prev_close)
        sigma = math.sqrt(variance)
        if returns >= warmup and sigma > 0.0 and abs(ret) > multiple * sigma:
            return i, prev_close, variance, returns
        prev_close = close
        if returns == 0:
            variance = ret * ret
        else:
            variance += alpha * (ret * ret - variance)
        returns += 1
    return closes.size, prev_close, variance, returns
