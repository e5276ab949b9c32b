"""Compiled (numba) fast paths of the trade validator: one pass where numpy needs dozens.

* :func:`provably_clean` proves, in one pass over a batch, that no row fails any check before
  the price-outlier test (finite, positive, in range, no time jump, no duplicate id); the
  validator then skips those checks. When it cannot prove it, the exact vectorized checks run.
* :func:`judge_until_outlier` runs the robust z-score test chunk by chunk (the window's
  median and MAD refreshed every ``chunk`` rows, as :mod:`.outliers` describes) and appends the
  judged prices to the window, stopping at the first chunk that holds an outlier: that chunk
  and its level-shift bookkeeping are handled by the Python code. ``np.median`` in numba
  selects the same order statistics and averages the two middle ones as numpy does, so both
  paths compute identical statistics.

Compiled on first use and cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from operators.validation.outliers import MAD_TO_SIGMA

_JIT = {"cache": True, "nogil": True}


@njit(**_JIT)
def provably_clean(
    price: np.ndarray,
    amount: np.ndarray,
    ts: np.ndarray,
    ids: np.ndarray,
    max_price: float,
    max_amount: float,
    min_ns: int,
    max_ns: int,
    max_jump_ns: int,
    latest_ns: int,
    has_latest: bool,
    max_id: int,
) -> bool:
    """True when every row passes the checks before the outlier test (see the module doc).

    Rows are judged as if all were accepted, which they are when this returns True: each time
    is compared with the latest accepted time before it, and the known ids (>= 0) must rise
    strictly from above ``max_id``, so none can repeat one seen before.
    """
    reference = latest_ns
    known = has_latest
    last_id = max_id
    for i in range(price.size):
        p = price[i]
        a = amount[i]
        if not (p > 0.0 and p <= max_price and a > 0.0 and a <= max_amount):
            return False
        t = ts[i]
        if t < min_ns or t > max_ns:
            return False
        if known:
            if t > reference + max_jump_ns:
                return False
            if t > reference:
                reference = t
        else:
            reference = t
            known = True
        trade_id = ids[i]
        if trade_id >= 0:
            if trade_id <= last_id:
                return False
            last_id = trade_id
    return True


@njit(**_JIT)
def judge_until_outlier(
    prices: np.ndarray,
    window: np.ndarray,
    next_slot: int,
    filled: int,
    min_history: int,
    threshold: float,
    min_relative_scale: float,
    chunk: int,
    z_out: np.ndarray,
    median_out: np.ndarray,
    scale_out: np.ndarray,
) -> tuple[int, int, int]:
    """Judge ``prices`` (the candidate rows, in order) until a chunk holds an outlier.

    Returns ``(rows consumed, next_slot, filled)``; rows consumed stop at the start of the
    first chunk with a flagged price (or at the end). Warm-up rows (fewer than
    ``min_history`` prices in the window) are accepted unjudged, as in the Python path.
    """
    capacity = window.size
    position = 0
    n = prices.size
    while position < n:
        if filled < min_history:
            take = min(min_history - filled, n - position)
            for k in range(take):
                window[next_slot] = prices[position + k]
                next_slot = (next_slot + 1) % capacity
                filled = min(capacity, filled + 1)
            position += take
            continue
        end = min(position + chunk, n)
        history = window[:filled]
        median = np.median(history)
        mad = np.median(np.abs(history - median))
        scale = max(MAD_TO_SIGMA * mad, min_relative_scale * abs(median))
        for i in range(position, end):
            distance = abs(prices[i] - median)
            z = distance / scale if scale > 0 else (np.inf if distance > 0 else 0.0)
            if z > threshold:
                return position, next_slot, filled
            z_out[i] = z
        for i in range(position, end):
            median_out[i] = median
            scale_out[i] = scale
            window[next_slot] = prices[i]
            next_slot = (next_slot + 1) % capacity
            filled = min(capacity, filled + 1)
        position = end
    return position, next_slot, filled
