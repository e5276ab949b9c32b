"""Live quotes → 1m candles for a quote-only symbol (FX-style), on the simulator's bookTicker.

The simulator replays the recorded BTCUSDT quotes (451 in 46 s). The test steps its clock to
each quote's time and waits for the feed to receive it, so each quote is stamped with its own
time (spot bookTicker carries none): the live minute must equal the quotes file's minute.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from connectors.files.quotes import load_quotes
from connectors.simulator.catalogue import DATA_DIR

from .conftest import Collected, drain_until, fast_config, wait_for

pytestmark = pytest.mark.timeout(120)

QUOTES = DATA_DIR / "btcusdt_quotes_2021-01-08.parquet"


def test_a_quote_only_symbol_gets_the_candles_of_its_quotes_mid(sim, open_source):
    config = fast_config(sim, trade_stream=None, quote_candles=("BTC/USDT",))
    wall = lambda: datetime.fromtimestamp(sim.now_ms() / 1000, UTC)  # noqa: E731
    part = open_source(config, wall=wall)
    got = Collected()
    drain_until(part, got, lambda: part.session.subscriptions >= 1, "subscription")
    tape = sim.markets["BTCUSDT"].quotes
    first_loop = np.unique(tape.rows(0, 451)[0])
    for t in first_loop:
        before = part.session.stats.messages
        frames = sim.advance(int(t) - sim.now_ms())
        wait_for(lambda b=before, f=frames: part.session.stats.messages >= b + f, f"quote {t}")
    minute_end = int(first_loop[0]) - int(first_loop[0]) % 60_000 + 60_000
    sim.advance(minute_end - sim.now_ms())  # the clock passes the minute's end: released
    drain_until(part, got, lambda: bool(got.candles.get(("BTC/USDT", "1m"))), "a quote candle")
    live = got.candles[("BTC/USDT", "1m")][0]

    recorded = pl.read_parquet(QUOTES)  # sent as 8-decimal strings: the venue's printed values
    mid = (recorded["bid"].map_elements(lambda v: float(f"{v:.8f}"), return_dtype=pl.Float64)
           + recorded["ask"].map_elements(lambda v: float(f"{v:.8f}"), return_dtype=pl.Float64)
           ) / 2  # fmt: skip
    assert live.ts_ns[0] // 1_000_000 == minute_end - 60_000
    assert [live.open[0], live.high[0], live.low[0], live.close[0]] == [
        mid[0], mid.max(), mid.min(), mid[-1]
    ]  # fmt: skip
    assert (live.volume[0], live.trades[0]) == (0.0, 451)
    from_file = load_quotes(QUOTES).frame  # the same minute built from the file
    np.testing.assert_allclose(
        [live.open[0], live.high[0], live.low[0], live.close[0]],
        [from_file[c][0] for c in ("open", "high", "low", "close")],
        rtol=1e-12,
    )
    assert int(from_file["trades"][0]) == 451
    spreads = recorded["ask"].map_elements(lambda v: float(f"{v:.8f}"), return_dtype=pl.Float64) - (
        recorded["bid"].map_elements(lambda v: float(f"{v:.8f}"), return_dtype=pl.Float64)
    )
    assert live.spread is not None  # the spread feature of the flow
    np.testing.assert_allclose(live.spread, [spreads.mean()], rtol=1e-9)
    assert not got.trades  # no trade stream: the candles came from the quotes


def test_quote_candles_must_name_streamed_symbols(sim) -> None:
    with pytest.raises(ValueError, match="quote_candles names symbols"):
        fast_config(sim, quote_candles=("ETH/USDT",))
