"""quorum data fetch --provider alpaca|polygon against the loopback vendor endpoints.

The official SDKs (alpaca-py, massive) talk to :class:`MarketDataProviders` on 127.0.0.1;
its pages are capped small so every fetch follows ``next_page_token`` / ``next_url``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from connectors.files import load_candles, load_trades
from connectors.simulator.market_data_providers import MarketDataProviders, StockTape
from flows.cli import main as cli_main

SYMBOLS = ("AAPL", "MSFT")
TAPE = StockTape(SYMBOLS, "2024-01-02", "2024-01-05")


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


@pytest.fixture
def vendor(monkeypatch: pytest.MonkeyPatch) -> Iterator[MarketDataProviders]:
    with MarketDataProviders(TAPE, page_cap=70) as server:
        monkeypatch.setenv("APCA_API_KEY_ID", server.key_id)
        monkeypatch.setenv("APCA_API_SECRET_KEY", server.secret)
        monkeypatch.setenv("POLYGON_API_KEY", server.polygon_key)
        yield server


def fetch_in_two_runs(
    server: MarketDataProviders, provider: str, out: Path, first_until: str, *args: str
) -> None:
    """Fetch up to ``first_until``, then resume to the end of ``args``' ``--until``."""
    first = [*args[: args.index("--until")], "--until", first_until]
    assert fetch(server, provider, *first, "--out", str(out)) == 0
    assert fetch(server, provider, *args, "--out", str(out)) == 0


def fetch(server: MarketDataProviders, provider: str, *args: str) -> int:
    return cli_main(
        ["data", "fetch", "--provider", provider, "--rest-url", server.url, "--quiet",
         "--requests-per-minute", "60000", *args]
    )  # fmt: skip


@pytest.mark.parametrize("provider", ["alpaca", "polygon"])
def test_bars_page_resume_and_equal_the_vendor_bars(
    vendor: MarketDataProviders, provider: str, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "bars.parquet"
    common = ("--symbols", "AAPL,MSFT", "--timeframe", "5m", "--since", "2024-01-02")
    assert fetch(vendor, provider, *common, "--until", "2024-01-03T18:00", "--out", str(out)) == 0
    first_calls = sum(vendor.calls.values())
    vendor.faults.fail_next(1, status=429, retry_after=0)  # a rate-limit answer mid-fetch
    assert fetch(vendor, provider, *common, "--until", "2024-01-05", "--out", str(out)) == 0
    printed = capsys.readouterr()
    assert "resumed after what was stored" in printed.out
    for secret in (vendor.key_id, vendor.secret, vendor.polygon_key):
        assert secret not in printed.out + printed.err
    got = load_candles(out)
    for symbol in SYMBOLS:
        expected = TAPE.bars(symbol, "5m", _ns("2024-01-02"), _ns("2024-01-05"))
        mine = got.frame.filter(pl.col("symbol") == symbol)
        np.testing.assert_array_equal(mine["ts_ns"].to_numpy(), expected["ts_ns"].to_numpy())
        for column, vendor_column in (("open", "o"), ("high", "h"), ("low", "low"), ("close", "c")):
            np.testing.assert_array_equal(mine[column].to_numpy(), expected[vendor_column])
    # 3 sessions of 78 bars a symbol in pages of 70: the SDK followed the vendor's cursor
    assert sum(vendor.calls.values()) - first_calls > 4


@pytest.mark.parametrize("provider", ["alpaca", "polygon"])
def test_trades_page_and_resume_without_repeats(
    vendor: MarketDataProviders, provider: str, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "trades.parquet"
    args = ("--trades", "--symbols", "MSFT", "--since", "2024-01-02", "--page-size", "100")
    fetch_in_two_runs(vendor, provider, out, "2024-01-02T16:00", *args, "--until", "2024-01-04")
    expected = TAPE.trades_in("MSFT", _ns("2024-01-02"), _ns("2024-01-04"))
    printed = capsys.readouterr().out
    counts = [int(line.split()[1].replace(",", "")) for line in printed.splitlines()
              if line.startswith("MSFT:")]  # fmt: skip
    assert sum(counts) == len(expected)  # each trade counted once, though windows overlap
    stored = pl.read_parquet(out)
    assert stored["trade_id"].to_list() == [str(i) for i in expected["id"]]
    np.testing.assert_array_equal(stored["ts"].dt.epoch("ns").to_numpy(), expected["ts_ns"])
    np.testing.assert_array_equal(stored["price"].to_numpy(), expected["price"])
    loaded = load_trades(out)  # the file quorum run --data reads
    assert len(loaded.frame) == len(expected) and not loaded.dead_letters


def test_wrong_or_missing_keys_are_usage_errors_that_never_echo_a_key(
    vendor: MarketDataProviders, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    args = ("--symbols", "AAPL", "--timeframe", "1h", "--since", "2024-01-02",
            "--until", "2024-01-03", "--out", str(tmp_path / "x.parquet"))  # fmt: skip
    monkeypatch.setenv("POLYGON_API_KEY", "wrong-key-123")
    assert fetch(vendor, "polygon", *args) == 2
    err = capsys.readouterr().err
    assert "fetch from polygon failed" in err and "wrong-key-123" not in err
    monkeypatch.delenv("APCA_API_SECRET_KEY")
    secret_file = tmp_path / "secret"
    secret_file.write_text(vendor.secret + "\n")
    assert fetch(vendor, "alpaca", *args) == 2
    assert "APCA_API_SECRET_KEY" in capsys.readouterr().err
    monkeypatch.setenv("APCA_API_SECRET_KEY_FILE", str(secret_file))
    assert fetch(vendor, "alpaca", *args) == 0
    assert vendor.secret not in capsys.readouterr().out


@pytest.mark.parametrize("provider", ["alpaca", "polygon"])
def test_quotes_page_resume_and_become_candles(
    vendor: MarketDataProviders, provider: str, tmp_path: Path
) -> None:
    out = tmp_path / "aapl_quotes.csv"
    args = ("--quotes", "--symbols", "AAPL", "--since", "2024-01-03", "--page-size", "150")
    fetch_in_two_runs(vendor, provider, out, "2024-01-03T16:00", *args, "--until", "2024-01-04")
    expected = TAPE.quotes_in("AAPL", _ns("2024-01-03"), _ns("2024-01-04"))
    stored = pl.read_csv(out)
    assert len(stored) == len(expected)
    np.testing.assert_array_equal(stored["bid"].to_numpy(), expected["bid"])
    np.testing.assert_array_equal(stored["ask_size"].to_numpy(), expected["ask_size"])
    features = tmp_path / "features.parquet"
    assert cli_main(["features", str(out), "--out", str(features), "--quiet"]) == 0
    minutes = pl.read_parquet(features).filter(pl.col("timeframe") == "1m")
    assert len(minutes) == 390  # one candle of the mid per session minute
    assert minutes["spread"].min() > 0


def test_quotes_need_a_provider(tmp_path: Path, capsys) -> None:
    code = cli_main(["data", "fetch", "--quotes", "--symbols", "BTC/USDT", "--since",
                     "2024-01-01", "--out", str(tmp_path / "q.csv")])  # fmt: skip
    assert code == 2 and "--quotes needs --provider" in capsys.readouterr().err
