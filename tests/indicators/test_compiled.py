"""The compiled kernels: the same bits as the interpreted loops, fsum exact, cheap state copies.

The indicator arithmetic runs compiled by numba. ``NUMBA_DISABLE_JIT=1`` runs the very same
functions as plain Python; the first test compares both, bit for bit, on real candles (no FMA
contraction, no reassociation, the same libm ``log``).
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.indicators import DEFAULT_FEATURES, IndicatorBank
from operators.indicators._kernels import fsum
from schemas.batches import CandleBatch
from schemas.common import Timeframe

ROOT = Path(__file__).resolve().parents[2]
EXTRA = ("sma_3", "ema_7", "rsi_2", "atr_5", "volatility_5", "zscore_7")

_BANK_OUTPUT = """
import json, sys
import numpy as np, polars as pl
from operators.indicators import IndicatorBank
from schemas.batches import CandleBatch
names = json.loads(sys.argv[1])
frame = pl.read_parquet("connectors/data/btc-perp_1m_2022-01.parquet").sort("ts").head(3000)
cols = [frame[k].to_numpy().astype(np.float64) for k in ("open", "high", "low", "close", "volume")]
ts = frame["ts"].dt.epoch("ns").to_numpy().astype(np.int64)
out = IndicatorBank(names).update_batch(CandleBatch.from_columns("X", "1m", ts, *cols))
print(json.dumps({k: v.tobytes().hex() for k, v in out.items()}))
"""


def _bank_bits(disable_jit: bool) -> dict[str, str]:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1" if disable_jit else "0")
    names = json.dumps([*DEFAULT_FEATURES, *EXTRA])
    result = subprocess.run(
        [sys.executable, "-c", _BANK_OUTPUT, names],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_compiled_and_interpreted_kernels_give_the_same_bits() -> None:
    compiled, interpreted = _bank_bits(False), _bank_bits(True)
    assert compiled.keys() == interpreted.keys() == {*DEFAULT_FEATURES, *EXTRA}
    differing = [name for name in compiled if compiled[name] != interpreted[name]]
    assert differing == []


finite = st.floats(min_value=-1e200, max_value=1e200, allow_nan=False, allow_infinity=False)


@settings(max_examples=300)
@given(values=st.lists(st.one_of(finite, st.sampled_from([1e16, 1.0, -1e16, 1e-16, 0.0]))))
def test_fsum_kernel_is_math_fsum(values: list[float]) -> None:
    expected = math.fsum(values)
    got = fsum(np.array(values, dtype=np.float64))
    assert got == expected or (got == 0.0 and expected == 0.0)


def test_fsum_kernel_reports_intermediate_overflow_as_math_fsum_does() -> None:
    values = [1.5e308, 1.5e308, -1.5e308]
    for summation in (math.fsum, lambda v: fsum(np.array(v))):
        try:
            summation(values)
        except OverflowError as error:
            assert "intermediate overflow" in str(error)
        else:  # pragma: no cover - both must raise
            raise AssertionError(f"{summation} did not raise")


def _minutes(n: int, start: int = 0) -> CandleBatch:
    price = 100.0 + np.sin(np.arange(start, start + n) / 7.0)
    ts = (np.arange(start, start + n) * Timeframe.M1.ns).astype(np.int64)
    return CandleBatch.from_columns("X/Y", "1m", ts, price, price + 1, price - 1, price, price)


def test_deep_copy_is_independent_and_continues_identically() -> None:
    bank = IndicatorBank()
    bank.update_batch(_minutes(300))
    snapshot = copy.deepcopy(bank)
    tail = _minutes(200, start=300)
    original = bank.update_batch(tail)
    copied = snapshot.update_batch(tail)
    for name in DEFAULT_FEATURES:
        assert original[name].tobytes() == copied[name].tobytes(), name
    assert pickle.dumps(bank) == pickle.dumps(snapshot)


def test_a_banks_indicators_are_views_of_its_state() -> None:
    moved, untouched = IndicatorBank(["ema_3", "sma_2"]), IndicatorBank(["ema_3", "sma_2"])
    out = moved.update_batch(_minutes(5))
    untouched.update_batch(_minutes(5))
    ema, sma = moved.indicators
    assert (ema.value, sma.value) == (out["ema_3"][-1], out["sma_2"][-1])
    ema.update(500.0)  # moving the view moves the bank's state
    nxt = _minutes(1, start=5)
    assert moved.update_batch(nxt)["ema_3"][0] != untouched.update_batch(nxt)["ema_3"][0]


def test_state_is_a_few_kilobytes_whatever_the_history() -> None:
    bank = IndicatorBank()
    bank.update_batch(_minutes(20_000))
    assert len(pickle.dumps(bank)) < 3 * 1024
