"""The market-data file loader: real shipped files, every timestamp form, hostile files."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from connectors.files import (
    DATA_DIR,
    DEFAULT_DATASETS,
    MISSING_VALUE,
    SHIPPED_DATA,
    UNPARSEABLE_VALUE,
    MarketDataFileError,
    detect_kind,
    load_candles,
    load_market_data,
    load_trades,
    normalize_symbol,
    shipped_path,
    symbol_from_filename,
)
from schemas.common import Timeframe

T0_NS = 1_610_064_000_000_000_000  # 2021-01-08T00:00:00Z


def write_csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------------- real shipped data


def test_xrp_eth_trades_with_string_ids_match_the_file() -> None:
    path = shipped_path("xrp-eth_trades_2019-10")
    raw = pl.read_parquet(path)
    loaded = load_trades(path)
    assert loaded.symbols == ("XRP/ETH",) and loaded.dead_letters == []
    assert len(loaded) == raw.height == loaded.rows_read == 12_477
    frame = loaded.frame
    assert frame["ts_ns"].to_list() == raw["ts"].dt.epoch("ns").to_list()
    assert frame["trade_id"].to_list() == [int(i) for i in raw["id"].to_list()]
    assert frame["price"].to_list() == raw["price"].to_list()
    assert frame["amount"].to_list() == raw["amount"].to_list()
    expected_sides = [1 if s == "buy" else -1 for s in raw["side"].to_list()]
    assert frame["side"].to_list() == expected_sides


def test_btcusdt_trades_map_timestamp_quantity_and_buyer_maker() -> None:
    path = shipped_path("btcusdt_trades_2021-01-08")
    raw = pl.read_parquet(path)
    loaded = load_trades(path)
    assert loaded.symbols == ("BTC/USDT",) and len(loaded) == 2001
    frame = loaded.frame
    assert frame["amount"].to_list() == raw["quantity"].to_list()
    assert frame["trade_id"].to_list() == raw["trade_id"].to_list()
    # buyer_maker "True" → the seller was the aggressor
    assert frame["side"].to_list() == [-1 if m == "True" else 1 for m in raw["buyer_maker"]]
    assert frame["ts_ns"][0] == T0_NS + 278_000_000


def test_alts_basket_has_ten_symbols_sorted_by_symbol_then_time() -> None:
    loaded = load_candles(shipped_path("alts-btc_5m_2018-01"))
    assert len(loaded) == 57_546 and len(loaded.symbols) == 10
    assert set(loaded.timeframes.values()) == {Timeframe.M5}
    frame = loaded.frame
    assert frame["symbol"].to_list() == sorted(frame["symbol"].to_list())
    for (_symbol,), rows in frame.group_by("symbol"):
        assert rows["ts_ns"].is_sorted()
    raw = pl.read_parquet(shipped_path("alts-btc_5m_2018-01"))
    assert frame["close"].sum() == pytest.approx(raw["close"].sum(), rel=1e-12)


def test_btc_perp_minutes_infer_one_minute() -> None:
    loaded = load_candles(shipped_path("btc-perp_1m_2022-01"))
    assert loaded.symbols == ("BTC-PERP",) and len(loaded) == 45_031
    assert loaded.timeframes == {"BTC-PERP": Timeframe.M1}
    assert loaded.frame["timeframe"].unique().to_list() == ["1m"]
    assert loaded.has_volume


def test_every_default_dataset_loads_without_dead_letters() -> None:
    for name in DEFAULT_DATASETS:
        loaded = SHIPPED_DATA[name].load()
        assert len(loaded) > 0 and loaded.dead_letters == [], name


def test_shipped_file_without_symbol_in_name_uses_its_declared_symbol() -> None:
    loaded = SHIPPED_DATA["btc_1m_2017-11"].load()
    assert loaded.symbols == ("UNITTEST/BTC",)
    with pytest.raises(MarketDataFileError, match="cannot tell the symbol"):
        load_candles(shipped_path("btc_1m_2017-11"))


def test_depth_files_are_refused_with_the_reason_and_quotes_are_read() -> None:
    assert detect_kind(shipped_path("btcusdt_quotes_2021-01-08")) == "quotes"
    with pytest.raises(MarketDataFileError, match="order-book data"):
        detect_kind(shipped_path("btcusdt_depth-updates_2022-11"))
    with pytest.raises(MarketDataFileError, match="not replay data"):
        SHIPPED_DATA["btcusdt_depth-updates_2022-11"].load()
    assert SHIPPED_DATA["btcusdt_quotes_2021-01-08"].load().symbols == ("BTC/USDT",)


def test_unknown_shipped_name_lists_the_available_ones() -> None:
    with pytest.raises(MarketDataFileError, match="available: xrp-eth_trades_2019-10"):
        shipped_path("eth-usd_trades")


# ------------------------------------------------------------------------- symbols


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("xrp-eth", "XRP/ETH"),
        ("BTCUSDT", "BTC/USDT"),
        ("ethbtc", "ETH/BTC"),
        ("btcfdusd", "BTC/FDUSD"),
        ("ADA/BTC", "ADA/BTC"),
        ("btc_usdt", "BTC/USDT"),
        ("btc-perp", "BTC-PERP"),
        (" sol-usdc ", "SOL/USDC"),
        ("UNITTEST", "UNITTEST"),
    ],
)
def test_normalize_symbol(text: str, expected: str) -> None:
    assert normalize_symbol(text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("xrp-eth_trades_2019-10.parquet", "XRP/ETH"),
        ("btcusdt_trades_2021-01-08.parquet", "BTC/USDT"),
        ("btc-perp_1m_2022-01.parquet", "BTC-PERP"),
        ("btc_1m_2017-11.parquet", None),
        ("data.csv", None),
        ("_x.csv", None),
    ],
)
def test_symbol_from_filename(name: str, expected: str | None) -> None:
    assert symbol_from_filename(name) == expected


def test_symbol_argument_names_a_file_without_symbol(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "trades.csv", f"ts,price,amount\n{T0_NS},1.5,2\n")
    assert load_trades(path, symbol="ethusdt").symbols == ("ETH/USDT",)
    with pytest.raises(MarketDataFileError, match=r"trades\.csv: cannot tell the symbol"):
        load_trades(path)


def test_symbol_argument_overrides_the_file_name(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "btcusdt_x.csv", f"ts,price,amount\n{T0_NS},1.5,2\n")
    assert load_trades(path).symbols == ("BTC/USDT",)
    assert load_trades(path, symbol="BTC/EUR").symbols == ("BTC/EUR",)


def test_symbol_argument_selects_rows_of_a_multi_symbol_file(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "mixed.csv",
        f"symbol,ts,price,amount\nBTCUSDT,{T0_NS},1,1\nethusdt,{T0_NS},2,1\n,{T0_NS},3,1\n",
    )
    everything = load_trades(path)
    assert sorted(everything.symbols) == ["BTC/USDT", "ETH/USDT"]
    assert [d.reason for d in everything.dead_letters] == [MISSING_VALUE]
    only_eth = load_trades(path, symbol="ETH/USDT")
    assert only_eth.symbols == ("ETH/USDT",) and only_eth.frame["price"].to_list() == [2.0]
    with pytest.raises(MarketDataFileError, match=r"no rows for symbol 'XRP/ETH'.*BTC/USDT"):
        load_trades(path, symbol="xrp-eth")


# ------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("cells", "unit"),
    [
        ([1_610_064_000, 1_610_064_001], "s"),
        ([1_610_064_000_000, 1_610_064_001_000], "ms"),
        ([1_610_064_000_000_000, 1_610_064_001_000_000], "us"),
        ([T0_NS, T0_NS + 1_000_000_000], "ns"),
    ],
)
def test_integer_epochs_are_read_in_the_unit_their_magnitude_says(
    tmp_path: Path, cells: list[int], unit: str
) -> None:
    path = tmp_path / f"btcusdt_{unit}.parquet"
    pl.DataFrame({"ts": cells, "price": [1.0, 2.0], "amount": [1.0, 1.0]}).write_parquet(path)
    assert load_trades(path).frame["ts_ns"].to_list() == [T0_NS, T0_NS + 1_000_000_000]


def test_float_epoch_seconds_keep_their_fraction(tmp_path: Path) -> None:
    path = tmp_path / "btcusdt_f.parquet"
    pl.DataFrame({"ts": [1_610_064_000.25], "price": [1.0], "amount": [1.0]}).write_parquet(path)
    assert load_trades(path).frame["ts_ns"].to_list() == [T0_NS + 250_000_000]


def test_iso_text_in_csv_with_zones_offsets_and_naive_utc(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "btcusdt_iso.csv",
        "timestamp,price,amount\n"
        "2021-01-08T00:00:00Z,1,1\n"
        "2021-01-08T01:00:01+01:00,1,1\n"
        "2021-01-08 00:00:02,1,1\n"
        "2021-01-08T00:00:03.5+00:00,1,1\n",
    )
    loaded = load_trades(path)
    assert loaded.dead_letters == []
    offsets = [0, 1_000_000_000, 2_000_000_000, 3_500_000_000]
    assert loaded.frame["ts_ns"].to_list() == [T0_NS + o for o in offsets]


def test_epoch_numbers_written_as_text(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "btcusdt_t.csv", "ts,price,amount\n1610064000000,1,1\n")
    assert load_trades(path).frame["ts_ns"].to_list() == [T0_NS]


def test_datetime_columns_naive_is_utc_and_aware_is_converted(tmp_path: Path) -> None:
    naive = pl.Series("ts", [datetime(2021, 1, 8)], dtype=pl.Datetime("us"))
    paris = naive.dt.replace_time_zone("Europe/Paris")  # 2021-01-07T23:00Z
    for series, expected in ((naive, T0_NS), (paris, T0_NS - 3_600_000_000_000)):
        path = tmp_path / "btcusdt_dt.parquet"
        pl.DataFrame([series, pl.Series("price", [1.0]), pl.Series("amount", [1.0])]).write_parquet(
            path
        )
        assert load_trades(path).frame["ts_ns"].to_list() == [expected]


def test_date_column_is_midnight_utc(tmp_path: Path) -> None:
    path = tmp_path / "btcusdt_d.parquet"
    pl.DataFrame({"date": [date(2021, 1, 8)], "price": [1.0], "amount": [1.0]}).write_parquet(path)
    assert load_trades(path).frame["ts_ns"].to_list() == [T0_NS]


def test_datetime_beyond_the_nanosecond_range_is_dead_lettered_not_wrapped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "btcusdt_far.parquet"
    stamps = pl.Series("ts", [datetime(2021, 1, 8), datetime(3000, 1, 1)], dtype=pl.Datetime("ms"))
    pl.DataFrame(
        [stamps, pl.Series("price", [1.0, 2.0]), pl.Series("amount", [1.0, 1.0])]
    ).write_parquet(path)
    loaded = load_trades(path)
    assert loaded.frame["ts_ns"].to_list() == [T0_NS]
    (letter,) = loaded.dead_letters
    assert letter.reason == UNPARSEABLE_VALUE and "3000-01-01" in letter.detail


# ------------------------------------------------------------------------- hostile rows


def test_bad_cells_become_dead_letters_naming_field_and_value(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "btcusdt_bad.csv",
        "timestamp,price,qty,id,side\n"
        "2021-01-08T00:00:00Z,100.5,1,1,buy\n"
        "2021-01-08T00:00:01Z,abc,1,2,sell\n"
        ",101,1,3,buy\n"
        "2021-01-08T00:00:03Z,102,,4,buy\n"
        "2021-01-08T00:00:04Z,103,1,5,hold\n"
        "garbage,104,1,6,sell\n"
        "2021-01-08T00:00:06Z,1e300,2,7,SELL\n"
        "2021-01-08T00:00:07Z,nan,2,8,s\n"
        "2021-01-08T00:00:08Z,1,2,-9,b\n",
    )
    loaded = load_trades(path)
    assert loaded.rows_read == 9
    # parseable values pass (NaN and 1e300 are the validator's business)
    assert loaded.frame["trade_id"].to_list() == [1, 7, 8]
    assert loaded.frame["side"].to_list() == [1, -1, -1]
    letters = {json.loads(d.raw)["id"]: d for d in loaded.dead_letters}
    assert sorted(letters) == ["-9", "2", "3", "4", "5", "6"]
    assert letters["2"].reason == UNPARSEABLE_VALUE
    assert "price (column 'price') 'abc' is not a number" in letters["2"].detail
    assert "row 2" in letters["2"].detail
    assert letters["3"].reason == MISSING_VALUE and "ts (column 'timestamp') is missing" in (
        letters["3"].detail
    )
    assert letters["3"].ts is None
    assert letters["4"].reason == MISSING_VALUE and "amount (column 'qty')" in letters["4"].detail
    assert letters["4"].ts == datetime(2021, 1, 8, 0, 0, 3, tzinfo=UTC)
    assert "'hold' is not buy or sell" in letters["5"].detail
    assert "'garbage' is not a timestamp" in letters["6"].detail
    assert "'-9' is not a valid id" in letters["-9"].detail
    assert all(
        d.symbol == "BTC/USDT" and d.source == "file:btcusdt_bad.csv" for d in letters.values()
    )


def test_a_row_with_several_bad_cells_is_one_dead_letter_naming_all(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "btcusdt_b.csv", "ts,price,amount\nnope,x,\n")
    (letter,) = load_trades(path).dead_letters
    assert letter.reason == UNPARSEABLE_VALUE  # first field in order: ts
    assert "ts (column 'ts') 'nope'" in letter.detail
    assert "price (column 'price') 'x'" in letter.detail
    assert "amount (column 'amount') is missing" in letter.detail


def test_unsorted_rows_are_sorted_stably_by_symbol_and_time(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pl.DataFrame(
        {
            "symbol": ["B/Q", "A/Q", "B/Q", "A/Q", "B/Q"],
            "ts": [3, 2, 1, 2, 1],
            "price": [1.0, 2.0, 3.0, 4.0, 5.0],
            "amount": [1.0] * 5,
        }
    ).write_parquet(path)
    frame = load_trades(path).frame
    assert frame["symbol"].to_list() == ["A/Q", "A/Q", "B/Q", "B/Q", "B/Q"]
    assert frame["price"].to_list() == [2.0, 4.0, 3.0, 5.0, 1.0]


def test_text_trade_ids_hash_stably_and_buyer_maker_booleans(tmp_path: Path) -> None:
    path = tmp_path / "btcusdt_u.parquet"
    pl.DataFrame(
        {
            "ts": [1, 2, 3],
            "price": [1.0] * 3,
            "amount": [1.0] * 3,
            "trade_id": ["a1-b2", "a1-b2", None],
            "is_buyer_maker": [True, False, None],
        }
    ).write_parquet(path)
    frame = load_trades(path).frame
    ids = frame["trade_id"].to_list()
    assert ids[0] == ids[1] > 0 and ids[2] == -1
    assert frame["side"].to_list() == [-1, 1, 0]
    assert load_trades(path).frame["trade_id"].to_list() == ids  # stable across loads


# ------------------------------------------------------------------------- hostile files


def test_empty_file_and_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(MarketDataFileError, match=r"empty\.csv: cannot read the file"):
        load_trades(write_csv(tmp_path, "empty.csv", ""))
    with pytest.raises(MarketDataFileError, match=r"header\.csv: the file has no rows"):
        load_trades(write_csv(tmp_path, "header.csv", "ts,price,amount\n"), symbol="X/Y")


def test_missing_column_names_it_and_lists_what_was_found(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "btcusdt_m.csv", "ts,cost,amount\n1,2,3\n")
    with pytest.raises(MarketDataFileError) as error:
        load_trades(path)
    message = str(error.value)
    assert "btcusdt_m.csv" in message and "missing required column 'price'" in message
    assert "found columns: 'ts', 'cost', 'amount'" in message


def test_wrong_extension_missing_file_and_corrupt_parquet(tmp_path: Path) -> None:
    with pytest.raises(MarketDataFileError, match=r"unknown file type '\.json'.*\.parquet"):
        load_trades(write_csv(tmp_path, "t.json", "{}"))
    with pytest.raises(MarketDataFileError, match="no such file"):
        load_trades(tmp_path / "absent.parquet")
    corrupt = write_csv(tmp_path, "btcusdt_c.parquet", "this is not parquet")
    with pytest.raises(MarketDataFileError, match=r"btcusdt_c\.parquet: cannot read the file"):
        load_trades(corrupt)
    with pytest.raises(MarketDataFileError, match="cannot read the file"):
        detect_kind(corrupt)


def test_ambiguous_and_mistyped_columns(tmp_path: Path) -> None:
    both = write_csv(tmp_path, "btcusdt_a.csv", "ts,timestamp,price,amount\n1,1,1,1\n")
    with pytest.raises(MarketDataFileError, match="columns 'ts', 'timestamp' all mean 'ts'"):
        load_trades(both)
    path = tmp_path / "btcusdt_b.parquet"
    pl.DataFrame({"ts": [1], "price": [True], "amount": [1.0]}).write_parquet(path)
    with pytest.raises(MarketDataFileError, match=r"column 'price' \(price\) has type Boolean"):
        load_trades(path)


def test_detect_kind_tells_trades_from_candles(tmp_path: Path) -> None:
    trades = write_csv(tmp_path, "btcusdt_t.csv", "Timestamp,Price,Size\n1,1,1\n")
    candles = write_csv(tmp_path, "btcusdt_c.csv", "date,open,high,low,close\n1,1,1,1,1\n")
    neither = write_csv(tmp_path, "btcusdt_n.csv", "a,b\n1,2\n")
    assert detect_kind(trades) == "trades" and detect_kind(candles) == "candles"
    with pytest.raises(MarketDataFileError, match="found columns: 'a', 'b'"):
        detect_kind(neither)
    assert load_market_data(trades).kind == "trades"


# ------------------------------------------------------------------------- candles


def _candles(tmp_path: Path, name: str, stamps: list[int], **extra: list[object]) -> Path:
    n = len(stamps)
    columns: dict[str, list[object]] = {
        "ts": stamps,
        "open": [1.0] * n,
        "high": [2.0] * n,
        "low": [0.5] * n,
        "close": [1.5] * n,
        **extra,
    }
    path = tmp_path / name
    pl.DataFrame(columns).write_parquet(path)
    return path


def test_timeframe_is_the_most_common_spacing_per_symbol(tmp_path: Path) -> None:
    minute = 60_000_000_000
    stamps = [T0_NS + k * minute for k in (0, 1, 2, 3, 5, 6)] + [
        T0_NS + k * 15 * minute for k in (0, 1, 2)
    ]
    symbols = ["A/Q"] * 6 + ["B/Q"] * 3
    loaded = load_candles(_candles(tmp_path, "c.parquet", stamps, symbol=symbols))
    assert loaded.timeframes == {"A/Q": Timeframe.M1, "B/Q": Timeframe.M15}
    assert not loaded.has_volume and loaded.frame["volume"].to_list() == [0.0] * 9


def test_unknown_spacing_asks_for_the_timeframe(tmp_path: Path) -> None:
    seven = 7 * 60_000_000_000
    path = _candles(tmp_path, "btcusdt_7m.parquet", [T0_NS + k * seven for k in range(4)])
    with pytest.raises(
        MarketDataFileError, match=r"most common spacing is 420 s.*pass it with --timeframe"
    ):
        load_candles(path)
    assert load_candles(path, timeframe="1m").timeframes == {"BTC/USDT": Timeframe.M1}


def test_single_candle_symbol_takes_the_files_timeframe_or_fails(tmp_path: Path) -> None:
    minute = 60_000_000_000
    path = _candles(
        tmp_path, "c.parquet", [T0_NS, T0_NS + minute, T0_NS], symbol=["A/Q", "A/Q", "B/Q"]
    )
    assert load_candles(path).timeframes == {"A/Q": Timeframe.M1, "B/Q": Timeframe.M1}
    lonely = _candles(tmp_path, "btcusdt_1.parquet", [T0_NS])
    with pytest.raises(MarketDataFileError, match="fewer than two candles"):
        load_candles(lonely)


def test_candle_cells_that_cannot_be_read_are_dead_lettered(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "btcusdt_1m.csv",
        "ts,open,high,low,close,volume,trades\n"
        f"{T0_NS},1,2,0.5,1.5,10,3\n"
        f"{T0_NS + 60_000_000_000},1,two,0.5,1.5,10,3\n"
        f"{T0_NS + 120_000_000_000},1,2,0.5,1.5,,3\n"
        f"{T0_NS + 180_000_000_000},1,2,0.5,1.5,10,2.5\n"
        f"{T0_NS + 240_000_000_000},1,2,0.5,1.5,10,\n",
    )
    loaded = load_candles(path, timeframe="1m")
    assert loaded.frame["ts_ns"].to_list() == [T0_NS, T0_NS + 240_000_000_000]
    assert loaded.frame["trades"].to_list() == [3, 0]
    reasons = [(d.reason, d.detail.split(": ", 1)[1]) for d in loaded.dead_letters]
    assert reasons == [
        (UNPARSEABLE_VALUE, "high (column 'high') 'two' is not a number"),
        (MISSING_VALUE, "volume (column 'volume') is missing"),
        (UNPARSEABLE_VALUE, "trades (column 'trades') '2.5' is not a count (integer ≥ 0)"),
    ]


def test_batches_hold_one_symbol_each_in_time_order() -> None:
    loaded = load_candles(shipped_path("alts-btc_5m_2018-01"))
    batches = list(loaded.batches())
    assert [b.symbol for b in batches] == sorted(loaded.symbols)
    assert sum(len(b) for b in batches) == len(loaded)
    assert all(np.all(np.diff(b.ts_ns) > 0) for b in batches)
    assert all(b.timeframe is Timeframe.M5 for b in batches)


def test_float_trade_ids_keep_integers_and_reject_fractions(tmp_path: Path) -> None:
    path = tmp_path / "btcusdt_f.parquet"
    pl.DataFrame(
        {"ts": [1, 2, 3], "price": [1.0] * 3, "amount": [1.0] * 3, "id": [7.0, None, 2.5]}
    ).write_parquet(path)
    loaded = load_trades(path)
    assert loaded.frame["trade_id"].to_list() == [7, -1]
    (letter,) = loaded.dead_letters
    assert "trade_id (column 'id') 2.5 is not a valid id" in letter.detail


def test_the_shipped_catalogue_lists_every_data_file() -> None:
    on_disk = {p.name for p in DATA_DIR.iterdir() if p.suffix in (".parquet", ".csv")}
    assert {f.filename for f in SHIPPED_DATA.values()} == on_disk
    assert set(DEFAULT_DATASETS) <= set(SHIPPED_DATA)
