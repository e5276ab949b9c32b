"""quorum data fetch: paginated, rate-limited, resumable OHLCV history from the simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from connectors.files import load_candles
from connectors.simulator import ExchangeSimulator
from connectors.store.engine import open_store
from connectors.store.market import read_candles
from flows.cli import main as cli_main
from tests.live.conftest import START_MS

DATA = Path(__file__).resolve().parents[2] / "connectors" / "data"
MINUTE_MS = 60_000


def expected_bars(minutes: int) -> pl.DataFrame:
    """The simulator's BTC/USDC market replays the shipped BTC month from START_MS."""
    bars = pl.read_parquet(DATA / "btc-perp_1m_2022-01.parquet").sort("ts")
    first = bars["ts"][0].timestamp() * 1000
    shifted = bars.with_columns(
        (pl.col("ts").dt.epoch("ms") - int(first) + START_MS).alias("open_ms")
    )
    return shifted.filter(pl.col("open_ms") < START_MS + minutes * MINUTE_MS)


def fetch(sim: ExchangeSimulator, *args: str) -> int:
    return cli_main(
        ["data", "fetch", "--symbols", "BTC/USDC", "--since", "2021-01-08",
         "--rest-url", sim.rest_url, "--page-size", "500", "--quiet", *args]
    )  # fmt: skip


def test_fetch_pages_resumes_and_equals_the_recorded_bars(make_sim, tmp_path: Path) -> None:
    sim = make_sim(ping_interval=None)
    sim.clock.advance(1_800 * MINUTE_MS)
    out = tmp_path / "btc.parquet"
    assert fetch(sim, "--until", "2021-01-08T10:00", "--out", str(out)) == 0
    first_run = sim.rest.stats.count("/api/v3/klines")
    assert len(pl.read_parquet(out)) == len(expected_bars(600))
    sim.faults.fail_rest(2, status=429, retry_after=0, path="/api/v3/klines")
    assert fetch(sim, "--out", str(out)) == 0  # resumes at 10:00, through two 429s
    expected = expected_bars(1_800)  # every candle closed by the exchange's clock
    got = load_candles(out)
    assert got.symbols == ("BTC/USDC",) and got.timeframes["BTC/USDC"].value == "1m"
    np.testing.assert_array_equal(got.frame["ts_ns"].to_numpy() // 1_000_000, expected["open_ms"])
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(got.frame[column].to_numpy(), expected[column].to_numpy())
    pages_second = sim.rest.stats.count("/api/v3/klines") - first_run
    assert pages_second == 3 + 2  # 1,200 minutes in pages of 500, plus the two refused calls


def test_fetch_into_the_store_is_idempotent(make_sim, tmp_path: Path) -> None:
    sim = make_sim(ping_interval=None)
    sim.clock.advance(700 * MINUTE_MS)
    store = f"sqlite:///{tmp_path / 'h.sqlite'}"
    assert fetch(sim, "--store", store) == 0
    assert fetch(sim, "--store", store) == 0  # nothing new: resumes at the end
    candles = read_candles(open_store(store), symbol="BTC/USDC")
    assert len(candles) == len(expected_bars(700))
    assert candles["close"].to_list() == expected_bars(700)["close"].to_list()


def test_bad_dates_and_unknown_exchanges_are_usage_errors(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "x.parquet")
    code = cli_main(["data", "fetch", "--symbols", "BTC/USDT", "--since", "yesterday",
                     "--out", out])  # fmt: skip
    assert code == 2 and "--since: 'yesterday' is not an ISO date" in capsys.readouterr().err


def test_fetch_trades_pages_by_time_then_id_and_resumes(make_sim, markets, tmp_path: Path) -> None:
    """XRP/ETH (illiquid: hours without a trade) — Binance's aggregated trades, every one once."""
    sim = make_sim(ping_interval=None)
    sim.clock.advance(12 * 60 * MINUTE_MS)
    out = tmp_path / "xrp-trades.parquet"
    common = ["data", "fetch", "--trades", "--symbols", "XRP/ETH", "--since", "2021-01-08",
              "--rest-url", sim.rest_url, "--page-size", "50", "--quiet",
              "--out", str(out)]  # fmt: skip
    assert cli_main([*common, "--until", "2021-01-08T04:00"]) == 0
    sim.faults.fail_rest(1, status=429, retry_after=0, path="/api/v3/aggTrades")
    assert cli_main([*common, "--until", "2021-01-08T10:00"]) == 0
    aggregates = markets["XRPETH"].trades.aggregates
    a0 = aggregates.count_before(START_MS)
    a1 = aggregates.count_before(START_MS + 10 * 60 * MINUTE_MS)
    ts, rows = aggregates.rows(a0, a1)
    stored = pl.read_parquet(out)
    assert a1 - a0 > 100  # several pages of 50
    assert stored["trade_id"].to_list() == [str(i) for i in range(a0 + 1, a1 + 1)]
    np.testing.assert_array_equal(stored["ts"].dt.epoch("ms").to_numpy(), ts)
    np.testing.assert_array_equal(stored["price"].to_numpy(), aggregates.column("price", rows))
    np.testing.assert_array_equal(stored["amount"].to_numpy(), aggregates.column("qty", rows))
    assert sim.rest.stats.count("/api/v3/aggTrades", status=429) == 1
