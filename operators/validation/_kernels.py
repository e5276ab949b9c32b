"""Compiled (numba) fast paths of the trade validator: one pass where numpy needs dozens.

* :func:`provably_clean` proves, in one pass over a batch, that no row fails any check before
  the price-outlier test (finite, positive, in range, no time jump, no duplicate id); the
  validator then skips those checks. When it cannot prove it, the exact vectorized checks run.
* :func:`judge_until_outlier` runs the robust z-score test chunk by chunk (the window's
  median and MAD refreshed every ``chunk`` rows, as :mod:`.outliers` describes) and appends the
  judged prices to the window, stopping at the first chunk that holds an outlier: that chunk
  and its level-shift bookkeeping are handled by the Python code. Beside the ring of accepted
  prices a long call keeps the same prices sorted (each chunk's evicted and accepted prices
  merged in one pass), reads the median off it and finds the MAD by walking outwards from the
  median (:func:`sorted_median_deviation`): no selection over the whole window per chunk. Both
  select the order statistics ``np.median`` selects and average the two middle ones as it
  does, so both paths compute identical statistics.

Compiled on first use and cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from operators.validation.outliers import MAD_TO_SIGMA

_JIT = {"cache": True, "nogil": True}
SORTED_FROM_CHUNKS = 4
"""A call judging this many chunks or more keeps a sorted copy of the window (one sort, then a
merge per chunk); below, two selections per chunk cost less than the sort."""


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

    ``window`` is the ring of accepted prices (``filled`` of them, the next goes to
    ``next_slot``). A call spanning :data:`SORTED_FROM_CHUNKS` chunks or more sorts it once and
    keeps the copy sorted beside it; a shorter one (a live feed's few trades) selects over it
    per chunk, cheaper than a sort. Returns ``(rows consumed, next_slot, filled)``; rows
    consumed stop at the start of the first chunk with a flagged price (or at the end). Warm-up
    rows (fewer than ``min_history`` prices in the window) are accepted unjudged, as in the
    Python path.
    """
    capacity = window.size
    position = 0
    n = prices.size
    kept_sorted = n >= SORTED_FROM_CHUNKS * chunk
    ordered = np.empty(capacity if kept_sorted else 0)
    scratch = np.empty(2 * capacity if kept_sorted else 0)  # a window and a chunk, at most
    dropped = np.empty(0)  # the short path keeps no evicted prices
    if kept_sorted:
        ordered[:filled] = np.sort(window[:filled])
    while position < n:
        if filled < min_history:
            end = position + min(min_history - filled, n - position)
        else:
            end = min(position + chunk, n)
            if kept_sorted:
                median = sorted_median(ordered, filled)
                mad = sorted_median_deviation(ordered, filled, median)
            else:
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
        accepted = prices[position:end]
        if kept_sorted:
            next_slot, filled = _accept(accepted, window, ordered, next_slot, filled, scratch)
        else:
            next_slot, filled, _ = _append(accepted, window, next_slot, filled, dropped)
        position = end
    return position, next_slot, filled


@njit(**_JIT)
def _accept(
    values: np.ndarray,
    window: np.ndarray,
    ordered: np.ndarray,
    next_slot: int,
    filled: int,
    scratch: np.ndarray,
) -> tuple[int, int]:
    """Append ``values`` to the ring and keep ``ordered`` its sorted copy: the prices they
    evict leave it and they join it in one merge pass. Returns ``(next_slot, filled)``."""
    capacity = window.size
    count = values.size
    if count > capacity:  # (a window smaller than a chunk) every price is replaced: sort
        next_slot, filled, _ = _append(values, window, next_slot, filled, np.empty(0))
        ordered[:] = np.sort(window)
        return next_slot, filled
    evicted = np.empty(count)
    next_slot, filled, gone = _append(values, window, next_slot, filled, evicted)
    added = np.sort(values)
    evicted = np.sort(evicted[:gone])
    out = taken = skipped = 0
    for i in range(filled - count + gone):  # the prices in the window before these
        old = ordered[i]
        if skipped < gone and old == evicted[skipped]:
            skipped += 1
            continue
        while taken < count and added[taken] < old:
            scratch[out] = added[taken]
            taken += 1
            out += 1
        scratch[out] = old
        out += 1
    while taken < count:
        scratch[out] = added[taken]
        taken += 1
        out += 1
    if skipped == gone and out == filled:
        ordered[:out] = scratch[:out]
    else:  # the sorted copy did not hold the window (never expected): sort it afresh
        ordered[:filled] = np.sort(window[:filled])
    return next_slot, filled


@njit(**_JIT)
def _append(
    values: np.ndarray, window: np.ndarray, next_slot: int, filled: int, evicted: np.ndarray
) -> tuple[int, int, int]:
    """Write ``values`` into the ring from ``next_slot`` on; the prices a full ring overwrites
    go to ``evicted`` in order (pass an empty array to drop them). Returns ``(next_slot,
    filled, prices overwritten)``.

    >>> window = np.array([1.0, 2.0, 0.0])
    >>> evicted = np.empty(2)
    >>> _append(np.array([3.0, 4.0]), window, 2, 2, evicted), window.tolist(), evicted[:1].tolist()
    ((1, 3, 1), [4.0, 2.0, 3.0], [1.0])
    """
    capacity = window.size
    gone = 0
    for value in values:
        if filled == capacity:
            if gone < evicted.size:
                evicted[gone] = window[next_slot]
            gone += 1
        else:
            filled += 1
        window[next_slot] = value
        next_slot = (next_slot + 1) % capacity
    return next_slot, filled, gone


@njit(**_JIT)
def sorted_median(ordered: np.ndarray, filled: int) -> float:
    """The median of ``ordered[:filled]`` (sorted), as ``np.median`` computes it.

    >>> sorted_median(np.array([1.0, 2.0, 4.0, 9.0]), 4), sorted_median(np.array([3.0]), 1)
    (3.0, 3.0)
    """
    half = filled // 2
    if filled % 2:
        return ordered[half]
    return (ordered[half - 1] + ordered[half]) / 2.0


@njit(**_JIT)
def sorted_median_deviation(ordered: np.ndarray, filled: int, median: float) -> float:
    """The median of ``|x − median|`` over ``ordered[:filled]`` (sorted), as
    ``np.median(np.abs(x − median))`` computes it, without sorting the deviations.

    Below the median the deviations grow leftwards, above it rightwards: walking out from the
    median, the smaller of the two next deviations is the next order statistic.

    >>> sorted_median_deviation(np.array([1.0, 2.0, 4.0, 9.0]), 4, 3.0)
    1.5
    """
    half = filled // 2
    left = np.searchsorted(ordered[:filled], median) - 1  # the last price below the median
    right = left + 1
    previous = current = 0.0
    for _ in range(half + 1):  # the order statistics 0 … half of the deviations
        previous = current
        if right >= filled or (left >= 0 and median - ordered[left] <= ordered[right] - median):
            current = median - ordered[left]
            left -= 1
        else:
            current = ordered[right] - median
            right += 1
    if filled % 2:
        return current
    return (previous + current) / 2.0
