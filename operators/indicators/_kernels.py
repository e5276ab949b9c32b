"""Compiled (numba) loops of every indicator: the one implementation of their arithmetic.

An indicator is a *kind*, up to three parameters and two small state vectors: ``f`` (float64)
and ``s`` (int64). :func:`run_program` advances a list of such indicators over a batch of
candles, each indicator in turn over every candle, writing its outputs into rows of ``out``.
A single ``update`` is a batch of one, so the per-candle and the batch paths are the same code
and agree bit for bit; a state vector is plain numpy, so pickling and resuming are exact.

The loops are written exactly as the scalar formulas are documented in each indicator's module
(same operations, same order, no ``fastmath``): float64 arithmetic is IEEE in compiled code as
in Python, so the results are those of the interpreted loops (``NUMBA_DISABLE_JIT=1`` runs this
module interpreted; the tests compare both).

State layouts (``f`` / ``s``), output rows in brackets:

==========  =========================================================  ==================
kind        f                                                          s
==========  =========================================================  ==================
SMA         [value] + sum window                                       sum window
EMA         [value] seed_sum                                           count
RSI         [value] prev avg_gain avg_loss                             count
ATR         [value] prev_close seed                                    count
MACD        [macd signal hist] fast_ema slow_ema signal_sum inputs…    count signal_count
BOLLINGER   [upper middle lower] + moments window                      moments window
VOLATILITY  [value] prev + moments window                              moments window
ZSCORE      [value] + moments window                                   moments window
VWAP        [value] sum_pv sum_v                                       day has_day last_ts
==========  =========================================================  ==================

A sum window is ``f: total bound buffer…`` and ``s: pos full``; a moments window is
``f: shift shifted_sum m2 bound buffer…`` and ``s: pos full`` (see :mod:`._rolling`).

Compiled on first use and cached on disk (``cache=True``): the first run after an install pays
a few seconds of compilation, later processes load the machine code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from operators.indicators._program import (
    KIND_ATR,
    KIND_BOLLINGER,
    KIND_EMA,
    KIND_MACD,
    KIND_RSI,
    KIND_SMA,
    KIND_VOLATILITY,
    KIND_VWAP,
    KIND_ZSCORE,
)
from operators.indicators.atr import true_range

_JIT = {"cache": True, "nogil": True}
_true_range = njit(**_JIT)(true_range)

NS_PER_DAY = 86_400 * 1_000_000_000
RESYNC_RATIO = 1e6
"""A window resyncs early when its error bound exceeds what it tracks by this factor."""
FLAT_RSI = 50.0

# Offsets inside a sum window (f) and inside any window (s).
SUM_TOTAL, SUM_BOUND, SUM_BUFFER = 0, 1, 2
MOM_SHIFT, MOM_SUM, MOM_M2, MOM_BOUND, MOM_BUFFER = 0, 1, 2, 3, 4
WIN_POS, WIN_FULL = 0, 1


@njit(**_JIT)
def fsum(values: np.ndarray) -> float:
    """Correctly rounded sum of finite floats: CPython's ``math.fsum`` (Shewchuk's partials).

    Raises ``OverflowError`` on intermediate overflow, as ``math.fsum`` does.
    """
    partials = np.empty(values.size + 1, dtype=np.float64)
    n = 0
    for k in range(values.size):
        x = values[k]
        i = 0
        for j in range(n):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        n = i
        if x != 0.0:
            if not math.isfinite(x):
                raise OverflowError("intermediate overflow in fsum")
            partials[n] = x
            n += 1
    hi = 0.0
    if n > 0:
        n -= 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return hi


# --- rolling windows ---------------------------------------------------------------------


@njit(**_JIT)
def _sum_resync(f: np.ndarray, s: np.ndarray) -> None:
    total = fsum(f[SUM_BUFFER:])
    f[SUM_TOTAL] = total
    f[SUM_BOUND] = abs(total)
    s[WIN_FULL] = 1


@njit(**_JIT)
def sum_push(f: np.ndarray, s: np.ndarray, x: float) -> None:
    """Push ``x`` into a sum window (``f``: total, bound, buffer…; ``s``: pos, full)."""
    size = f.size - SUM_BUFFER
    pos = s[WIN_POS]
    old = f[SUM_BUFFER + pos]
    f[SUM_BUFFER + pos] = x
    pos += 1
    if pos == size:
        pos = 0
        _sum_resync(f, s)
    else:
        total = f[SUM_TOTAL] + (x - old)
        f[SUM_TOTAL] = total
        if s[WIN_FULL]:
            f[SUM_BOUND] += abs(x) + abs(old)
            if f[SUM_BOUND] > RESYNC_RATIO * abs(total):
                _sum_resync(f, s)
    s[WIN_POS] = pos


@njit(**_JIT)
def _moments_resync(f: np.ndarray, s: np.ndarray, shift: float) -> None:
    buffer = f[MOM_BUFFER:]
    size = buffer.size
    deviations = np.empty(size, dtype=np.float64)
    for k in range(size):
        deviations[k] = buffer[k] - shift
    total = fsum(deviations)
    mean = total / size
    squares = np.empty(size, dtype=np.float64)
    for k in range(size):
        d = deviations[k]
        squares[k] = (d - mean) * (d - mean)
    m2 = fsum(squares)
    f[MOM_SHIFT] = shift
    f[MOM_SUM] = total
    f[MOM_M2] = m2
    f[MOM_BOUND] = m2
    s[WIN_FULL] = 1


@njit(**_JIT)
def moments_push(f: np.ndarray, s: np.ndarray, x: float) -> None:
    """Push ``x`` into a moments window (``f``: shift, shifted_sum, m2, bound, buffer…)."""
    size = f.size - MOM_BUFFER
    pos = s[WIN_POS]
    old = f[MOM_BUFFER + pos]
    f[MOM_BUFFER + pos] = x
    pos += 1
    if pos == size:
        pos = 0
        _moments_resync(f, s, x)
    elif s[WIN_FULL]:
        shift = f[MOM_SHIFT]
        new = x - shift
        gone = old - shift
        delta = new - gone
        old_mean = f[MOM_SUM] / size
        f[MOM_SUM] += delta
        new_mean = f[MOM_SUM] / size
        a = new - new_mean
        b = gone - old_mean
        f[MOM_M2] += delta * (a + b)
        f[MOM_BOUND] += abs(delta) * (abs(a) + abs(b))
        if f[MOM_BOUND] > RESYNC_RATIO * f[MOM_M2]:
            _moments_resync(f, s, x)
    s[WIN_POS] = pos


@njit(**_JIT)
def moments_variance(f: np.ndarray, ddof: int) -> float:
    m2 = f[MOM_M2]
    return m2 / (f.size - MOM_BUFFER - ddof) if m2 > 0.0 else 0.0


@njit(**_JIT)
def moments_deviation(f: np.ndarray, x: float) -> float:
    return (x - f[MOM_SHIFT]) - f[MOM_SUM] / (f.size - MOM_BUFFER)


# --- indicators ----------------------------------------------------------------------------


@njit(**_JIT)
def _sma(f, s, close, out):
    window = f[1:]
    period = window.size - SUM_BUFFER
    for t in range(close.size):
        sum_push(window, s, close[t])
        if s[WIN_FULL]:
            f[0] = window[SUM_TOTAL] / period
        out[t] = f[0]


@njit(**_JIT)
def _ema(f, s, period, close, out):
    k = 2.0 / (period + 1)
    for t in range(close.size):
        x = close[t]
        if s[0] >= period:
            prev = f[0]
            f[0] = (x - prev) * k + prev
        else:
            s[0] += 1
            f[1] += x
            if s[0] == period:
                f[0] = f[1] / period
        out[t] = f[0]


@njit(**_JIT)
def _rsi(f, s, period, close, out):
    for t in range(close.size):
        x = close[t]
        count = s[0]
        if count == 0:
            s[0] = 1
            f[1] = x
            out[t] = f[0]
            continue
        change = x - f[1]
        f[1] = x
        gain = f[2]
        loss = f[3]
        if count > period:
            gain *= period - 1
            loss *= period - 1
            if change < 0:
                loss -= change
            else:
                gain += change
            gain /= period
            loss /= period
        else:
            if change < 0:
                loss -= change
            else:
                gain += change
            s[0] = count + 1
            if count < period:
                f[2] = gain
                f[3] = loss
                out[t] = f[0]
                continue
            gain /= period
            loss /= period
        f[2] = gain
        f[3] = loss
        total = gain + loss
        f[0] = 100.0 * (gain / total) if total != 0.0 else FLAT_RSI
        out[t] = f[0]


@njit(**_JIT)
def _atr(f, s, period, high, low, close, out):
    for t in range(close.size):
        count = s[0]
        prev_close = f[1]
        f[1] = close[t]
        if count == 0:
            s[0] = 1
        else:
            tr = _true_range(high[t], low[t], prev_close)
            if count > period:
                atr = f[0] * (period - 1)
                atr += tr
                f[0] = atr / period
            else:  # seeding: the first ``period`` true ranges summed in order, then averaged
                s[0] = count + 1
                seed = f[2] + tr
                if count == period:
                    f[0] = seed / period
                f[2] = seed
        out[t] = f[0]


@njit(**_JIT)
def _macd(f, s, fast, slow, signal, close, o_macd, o_signal, o_hist):
    k_fast = 2.0 / (fast + 1)
    k_slow = 2.0 / (slow + 1)
    k_signal = 2.0 / (signal + 1)
    inputs = f[6:]
    for t in range(close.size):
        x = close[t]
        emit = True
        if s[0] >= slow:
            fast_ema = f[3]
            slow_ema = f[4]
            fast_ema = (x - fast_ema) * k_fast + fast_ema
            slow_ema = (x - slow_ema) * k_slow + slow_ema
            f[3] = fast_ema
            f[4] = slow_ema
        else:
            inputs[s[0]] = x
            s[0] += 1
            if s[0] < slow:
                emit = False
            else:
                total = 0.0
                for j in range(slow - fast, slow):  # left to right, as TA-Lib adds
                    total += inputs[j]
                fast_ema = total / fast
                total = 0.0
                for j in range(slow):
                    total += inputs[j]
                slow_ema = total / slow
                f[3] = fast_ema
                f[4] = slow_ema
                inputs[:] = 0.0
        if emit:
            line = f[3] - f[4]
            if s[1] >= signal:
                prev = f[1]
                value = (line - prev) * k_signal + prev
                f[0], f[1], f[2] = line, value, line - value
            else:
                s[1] += 1
                f[5] += line
                if s[1] >= signal:
                    value = f[5] / signal
                    f[0], f[1], f[2] = line, value, line - value
        o_macd[t] = f[0]
        o_signal[t] = f[1]
        o_hist[t] = f[2]


@njit(**_JIT)
def _bollinger(f, s, num_std, close, o_upper, o_middle, o_lower):
    window = f[3:]
    size = window.size - MOM_BUFFER
    for t in range(close.size):
        moments_push(window, s, close[t])
        if s[WIN_FULL]:
            middle = window[MOM_SHIFT] + window[MOM_SUM] / size
            width = math.sqrt(moments_variance(window, 0)) * num_std
            f[0], f[1], f[2] = middle + width, middle, middle - width
        o_upper[t] = f[0]
        o_middle[t] = f[1]
        o_lower[t] = f[2]


@njit(**_JIT)
def _volatility(f, s, close, out):
    window = f[2:]
    for t in range(close.size):
        x = close[t]
        prev = f[1]
        f[1] = x
        if prev == prev:  # not the first close: a return exists
            moments_push(window, s, math.log(x / prev))
            if s[WIN_FULL]:
                f[0] = math.sqrt(moments_variance(window, 1))
        out[t] = f[0]


@njit(**_JIT)
def _zscore(f, s, close, out):
    window = f[1:]
    for t in range(close.size):
        x = close[t]
        moments_push(window, s, x)
        if s[WIN_FULL]:
            std = math.sqrt(moments_variance(window, 0))
            f[0] = moments_deviation(window, x) / std if std > 0.0 else 0.0
        out[t] = f[0]


@njit(**_JIT)
def _vwap(f, s, high, low, close, volume, ts, out):
    for t in range(close.size):
        stamp = ts[t]
        s[2] = stamp
        s[3] = 1
        day = stamp // NS_PER_DAY
        typical = (high[t] + low[t] + close[t]) / 3.0
        v = volume[t]
        if s[1] == 0 or day != s[0]:
            s[0] = day
            s[1] = 1
            f[1] = typical * v
            f[2] = v
        else:
            f[1] += typical * v
            f[2] += v
        f[0] = f[1] / f[2] if f[2] > 0.0 else typical  # nothing traded yet: nothing to weight
        out[t] = f[0]


@njit(**_JIT)
def run_program(
    kinds: np.ndarray,
    params: np.ndarray,
    f_offsets: np.ndarray,
    s_offsets: np.ndarray,
    out_rows: np.ndarray,
    f: np.ndarray,
    s: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    ts: np.ndarray,
    out: np.ndarray,
) -> None:
    """Advance indicator ``j`` (state ``f[f_offsets[j]:f_offsets[j+1]]`` and likewise ``s``)
    over every candle, writing its outputs to ``out[out_rows[j]]`` (and the next rows)."""
    for j in range(kinds.size):
        kind = kinds[j]
        fj = f[f_offsets[j] : f_offsets[j + 1]]
        sj = s[s_offsets[j] : s_offsets[j + 1]]
        p = params[j]
        r = out_rows[j]
        if kind == KIND_SMA:
            _sma(fj, sj, close, out[r])
        elif kind == KIND_EMA:
            _ema(fj, sj, int(p[0]), close, out[r])
        elif kind == KIND_RSI:
            _rsi(fj, sj, int(p[0]), close, out[r])
        elif kind == KIND_ATR:
            _atr(fj, sj, int(p[0]), high, low, close, out[r])
        elif kind == KIND_MACD:
            _macd(fj, sj, int(p[0]), int(p[1]), int(p[2]), close, out[r], out[r + 1], out[r + 2])
        elif kind == KIND_BOLLINGER:
            _bollinger(fj, sj, p[1], close, out[r], out[r + 1], out[r + 2])
        elif kind == KIND_VOLATILITY:
            _volatility(fj, sj, close, out[r])
        elif kind == KIND_ZSCORE:
            _zscore(fj, sj, close, out[r])
        elif kind == KIND_VWAP:
            _vwap(fj, sj, high, low, close, volume, ts, out[r])


@njit(**_JIT)
def first_bad_candle(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    ts: np.ndarray,
    last_ts: int,
    has_last: bool,
) -> tuple[int, int]:
    """The first problem of a candle batch as (field, row), or (-1, -1) when there is none.

    Fields in the order they are checked: 0-3 open/high/low/close not finite and > 0, 4 volume
    not finite and >= 0, 5 ``ts`` not increasing (row 0: not after ``last_ts``).
    """
    prices = (open_, high, low, close)
    for field in range(4):
        column = prices[field]
        for row in range(column.size):
            x = column[row]
            if not (x > 0.0 and x < np.inf):
                return field, row
    for row in range(volume.size):
        x = volume[row]
        if not (x >= 0.0 and x < np.inf):
            return 4, row
    if ts.size and has_last and ts[0] <= last_ts:
        return 5, 0
    for row in range(1, ts.size):
        if ts[row] <= ts[row - 1]:
            return 5, row
    return -1, -1
