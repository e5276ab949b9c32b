"""Bars and feature values waiting as compact columns read back exactly as the tuples the
trading core used to buffer, before and after a pickle round trip (a snapshot)."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from operators.execution.buffered_columns import BarColumns, SymbolValues
from operators.execution.ordering import EventBuffer

MINUTE_NS = 60_000_000_000
PRICES = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def candle_columns(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n = draw(st.integers(0, 30))
    start = draw(st.integers(0, 2**40))
    ts = start + MINUTE_NS * np.arange(n, dtype=np.int64)
    prices = [draw(arrays(np.float64, n, elements=PRICES)) for _ in range(5)]
    return (ts, *prices)


@settings(max_examples=200, deadline=None)
@given(candle_columns())
def test_bar_columns_read_as_the_tuples_of_plain_python_values(columns: tuple) -> None:
    bars = BarColumns.of("A/B", MINUTE_NS, *columns)
    expected = [
        ("A/B", ts, MINUTE_NS, *prices)
        for ts, *prices in zip(*(c.tolist() for c in columns), strict=True)
    ]
    for got in (bars, pickle.loads(pickle.dumps(bars))):
        assert len(got) == len(expected)
        # repr: NaN compares unequal to itself; the types must be plain int/float too
        assert repr(list(got)) == repr(expected)
        assert all(type(v) in (str, int, float) for bar in got for v in bar)
        assert list(got.known()) == [ts + MINUTE_NS for ts in columns[0].tolist()]


def test_symbol_values_read_as_symbol_value_pairs() -> None:
    values = SymbolValues.of("A/B", np.array([0.5, 1.25, 3.0]))
    again = pickle.loads(pickle.dumps(values))
    assert list(values) == list(again) == [("A/B", 0.5), ("A/B", 1.25), ("A/B", 3.0)]
    assert values[1:] == [("A/B", 1.25), ("A/B", 3.0)]


def test_a_buffered_bar_run_survives_a_snapshot_half_released() -> None:
    ts = np.arange(4, dtype=np.int64) * MINUTE_NS
    bars = BarColumns.of("A/B", MINUTE_NS, ts, *[np.array([1.0, 2.0, 3.0, 4.0])] * 5)
    buf = EventBuffer()
    buf.push_run(bars.known(), 1, "A/B", bars)
    first = [bar for _, _, bar in buf.pop_until(2 * MINUTE_NS + 1)]
    resumed = pickle.loads(pickle.dumps(buf))
    rest = [bar for _, _, bar in resumed.pop_until(float("inf"))]
    assert [bar[3] for bar in first] == [1.0, 2.0]
    assert [bar[3] for bar in rest] == [3.0, 4.0]
    assert len(resumed) == 0
