"""IndicatorBank: feature specs, shared indicators, batch vs per-candle, warm-up, state size."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import talib

from operators.indicators import (
    DEFAULT_FEATURES,
    EMA,
    MACD,
    SMA,
    Bollinger,
    IndicatorBank,
    feature_names_for,
    required_warmup,
)
from operators.indicators.specs import ACCEPTED_FORMS, parse_feature
from schemas.batches import CandleBatch, FeatureTable
from schemas.common import Timeframe

REQUIRED_BY_FEATURES_COMMAND = (
    "sma_20",
    "ema_12",
    "ema_26",
    "ema_20",
    "ema_50",
    "rsi_14",
    "atr_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
)


def test_default_features_are_the_command_columns_then_the_extras() -> None:
    expected = (*REQUIRED_BY_FEATURES_COMMAND, "volatility_20", "zscore_20", "vwap")
    assert expected == DEFAULT_FEATURES
    assert IndicatorBank().names == DEFAULT_FEATURES


def test_shared_indicators_are_computed_once() -> None:
    bank = IndicatorBank(["macd_hist", "bb_lower", "macd", "bb_upper", "macd_signal", "sma_5"])
    kinds = sorted(type(i).__name__ for i in bank.indicators)
    assert kinds == ["Bollinger", "MACD", "SMA"]
    assert bank.names == ("macd_hist", "bb_lower", "macd", "bb_upper", "macd_signal", "sma_5")


def test_feature_names_for_accepts_lists_and_comma_separated_text() -> None:
    assert feature_names_for(["vwap", "ema_7"]) == ("vwap", "ema_7")
    assert feature_names_for(" rsi_2 ,zscore_30") == ("rsi_2", "zscore_30")
    assert IndicatorBank("atr_3,vwap").names == ("atr_3", "vwap")


@pytest.mark.parametrize(
    "name",
    [
        "rsi14",
        "sma_",
        "sma_x",
        "SMA_20",
        "sma_020",
        "sma_0",
        "sma_10001",
        "macd_12",
        "bb_width",
        "volatility_1",
        "zscore_1",
        "",
        " sma_20",
        "ema_2.5",
        "vwap_1",
        "sma_99999999999999999999",
    ],
)
def test_unknown_or_malformed_names_are_rejected_with_the_accepted_forms(name: str) -> None:
    with pytest.raises(ValueError) as raised:
        feature_names_for([name])
    message = str(raised.value)
    assert repr(name) in message
    assert all(form in message for form in ACCEPTED_FORMS)
    with pytest.raises(ValueError, match="accepted: sma_<n>"):
        IndicatorBank([name])


def test_duplicates_empty_and_non_strings_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate feature 'rsi_14'"):
        IndicatorBank(["rsi_14", "vwap", "rsi_14"])
    with pytest.raises(ValueError, match="no features given"):
        IndicatorBank([])
    with pytest.raises(ValueError, match="feature names are strings, got 14"):
        feature_names_for([14])  # type: ignore[list-item]


def test_every_accepted_form_parses() -> None:
    for form in ACCEPTED_FORMS:
        name = form.replace("<n>", "9")
        assert parse_feature(name).name == name


def test_required_warmup_per_feature() -> None:
    expected = {
        "sma_20": 20,
        "ema_50": 50,
        "rsi_14": 15,
        "atr_14": 15,
        "macd": 34,
        "macd_hist": 34,
        "bb_lower": 20,
        "volatility_20": 21,
        "zscore_20": 20,
        "vwap": 1,
    }
    for name, warmup in expected.items():
        assert required_warmup([name]) == warmup, name
    assert required_warmup(DEFAULT_FEATURES) == 50
    assert required_warmup([]) == 0
    assert IndicatorBank().warmup == 50


def test_warmup_is_exactly_where_each_feature_starts(btc_features) -> None:
    columns = btc_features
    for name, column in columns.items():
        first = int(np.argmax(~np.isnan(column)))
        assert first == required_warmup([name]) - 1, name
        assert not np.isnan(column[first:]).any(), name
    all_valid = np.all([~np.isnan(c) for c in columns.values()], axis=0)
    assert int(np.argmax(all_valid)) == required_warmup(DEFAULT_FEATURES) - 1


def test_bank_columns_match_talib_on_the_btc_month(btc, btc_features, like_reference) -> None:
    columns = btc_features
    h, lo, c = btc["high"], btc["low"], btc["close"]
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(c, 20, 2, 2, 0)
    scale = 1e-12 * float(c.max())
    expected = {
        "sma_20": (talib.SMA(c, 20), 0.0),
        "ema_12": (talib.EMA(c, 12), 0.0),
        "ema_26": (talib.EMA(c, 26), 0.0),
        "ema_20": (talib.EMA(c, 20), 0.0),
        "ema_50": (talib.EMA(c, 50), 0.0),
        "rsi_14": (talib.RSI(c, 14), 0.0),
        "atr_14": (talib.ATR(h, lo, c, 14), 0.0),
        "macd": (macd, scale),
        "macd_signal": (signal, scale),
        "macd_hist": (hist, scale),
        "bb_upper": (upper, 0.0),
        "bb_middle": (middle, 0.0),
        "bb_lower": (lower, 0.0),
    }
    for name, (reference, atol) in expected.items():
        warmup = required_warmup([name])
        like_reference(columns[name], reference, warmup=warmup, atol=atol, label=name)


def test_bank_runs_each_alt_pair_on_its_own(alts, as_batch, like_reference) -> None:
    for symbol, s in alts.items():
        bank = IndicatorBank(["ema_12", "rsi_14", "atr_14", "macd_hist", "bb_upper", "vwap"])
        columns = bank.update_batch(as_batch(symbol, s, Timeframe.M5))
        c = s["close"]
        like_reference(columns["ema_12"], talib.EMA(c, 12), warmup=12, label=symbol)
        like_reference(columns["rsi_14"], talib.RSI(c, 14), warmup=15, label=symbol)
        atr = talib.ATR(s["high"], s["low"], c, 14)
        like_reference(columns["atr_14"], atr, warmup=15, label=symbol)
        hist = talib.MACD(c, 12, 26, 9)[2]
        like_reference(columns["macd_hist"], hist, warmup=34, atol=1e-12 * c.max(), label=symbol)
        like_reference(
            columns["bb_upper"], talib.BBANDS(c, 20, 2, 2, 0)[0], warmup=20, label=symbol
        )
        assert not np.isnan(columns["vwap"]).any()


def test_bank_equals_the_stand_alone_indicators_bit_for_bit(btc, btc_features) -> None:
    """The MACD's EMAs and the bank's ema_12/ema_26 are separate objects: each is right."""
    columns = btc_features
    c = btc["close"]
    assert columns["sma_20"].tobytes() == SMA(20).update_many(c).tobytes()
    assert columns["ema_12"].tobytes() == EMA(12).update_many(c).tobytes()
    macd = MACD().update_many(c)
    bands = Bollinger().update_many(c)
    for j, name in enumerate(("macd", "macd_signal", "macd_hist")):
        assert columns[name].tobytes() == macd[:, j].tobytes()
    for j, name in enumerate(("bb_upper", "bb_middle", "bb_lower")):
        assert columns[name].tobytes() == bands[:, j].tobytes()


def test_update_and_update_batch_agree_and_batches_can_be_split(btc, as_batch) -> None:
    n = 3_000
    batch = as_batch("BTC-PERP", btc, Timeframe.M1).take(slice(0, n))
    whole = IndicatorBank().update_batch(batch)
    one_by_one = IndicatorBank()
    rows = [
        one_by_one.update(
            *(float(getattr(batch, f)[i]) for f in ("open", "high", "low", "close", "volume")),
            int(batch.ts_ns[i]),
        )
        for i in range(n)
    ]
    table = np.array(rows).T
    for j, name in enumerate(DEFAULT_FEATURES):
        assert table[j].tobytes() == whole[name].tobytes(), name
    pieces = IndicatorBank()
    parts = [pieces.update_batch(batch.take(slice(a, b))) for a, b in ((0, 7), (7, 7), (7, n))]
    for name in DEFAULT_FEATURES:
        joined = np.concatenate([p[name] for p in parts])
        assert joined.tobytes() == whole[name].tobytes(), name


def test_update_batch_returns_contiguous_float64_columns() -> None:
    bank = IndicatorBank(["sma_2", "vwap"])
    batch = CandleBatch.from_columns(
        "X/Y", Timeframe.H1, [0, 3_600_000_000_000], [1, 2], [2, 3], [1, 2], [2, 3], [5, 6]
    )
    out = bank.update_batch(batch)
    assert list(out) == ["sma_2", "vwap"]
    assert all(a.dtype == np.float64 and a.flags.c_contiguous for a in out.values())
    assert out["sma_2"].tolist()[1] == 2.5
    empty = bank.update_batch(CandleBatch.empty("X/Y", Timeframe.H1))
    assert all(len(a) == 0 for a in empty.values())


def test_a_batchs_features_are_one_table_read_by_name_and_pickled_whole() -> None:
    names = ["vwap", "sma_2", "rsi_14"]  # not the program's order: rows are looked up by name
    bank, alone = IndicatorBank(names), {name: IndicatorBank([name]) for name in names}
    batch = CandleBatch.from_columns(
        "X/Y",
        Timeframe.H1,
        [i * 3_600_000_000_000 for i in range(20)],
        *[np.linspace(1, 2, 20)] * 4,
        np.full(20, 5.0),
    )
    out = bank.update_batch(batch)
    assert isinstance(out, FeatureTable) and out.table.ndim == 2
    assert all(np.shares_memory(out[name], out.table) for name in names)
    again = pickle.loads(pickle.dumps(out))
    for name in names:
        expected = alone[name].update_batch(batch)[name]
        assert out[name].tobytes() == again[name].tobytes() == expected.tobytes(), name


def test_default_bank_state_stays_under_8_kib(btc, as_batch) -> None:
    bank = IndicatorBank()
    fresh = len(pickle.dumps(bank))
    bank.update_batch(as_batch("BTC-PERP", btc, Timeframe.M1).take(slice(0, 500)))
    warm = len(pickle.dumps(bank))
    assert fresh < 8 * 1024 and warm < 8 * 1024, (fresh, warm)


def test_state_vectors_pickle_as_bytes_and_restore_from_the_earlier_arrays(btc, as_batch) -> None:
    bank = IndicatorBank()
    batch = as_batch("BTC-PERP", btc, Timeframe.M1)
    bank.update_batch(batch.take(slice(0, 300)))
    state = bank.__getstate__()
    assert isinstance(state["f"], bytes) and isinstance(state["s"], bytes)
    earlier = IndicatorBank.__new__(IndicatorBank)
    earlier.__setstate__({**state, "f": bank._f.copy(), "s": bank._s.copy()})
    restored = pickle.loads(pickle.dumps(bank))
    rest = batch.take(slice(300, 400))
    expected = bank.update_batch(rest)
    for copy_ in (restored, earlier):
        got = copy_.update_batch(rest)
        assert all(np.array_equal(got[k], expected[k], equal_nan=True) for k in expected)


def test_a_symbols_banks_resume_from_their_compressed_snapshot(btc, as_batch) -> None:
    import copy

    from operators.features import SymbolFeatures

    minutes = as_batch("BTC-PERP", btc, Timeframe.M1)
    hours = as_batch("BTC-PERP", btc, Timeframe.H1)
    state = SymbolFeatures(IndicatorBank().names)
    state.update(minutes.take(slice(0, 300)))
    state.update(hours.take(slice(0, 30)))
    assert isinstance(state.__getstate__()["banks"], bytes)
    assert len(pickle.dumps(state)) < sum(len(pickle.dumps(b)) for b in state.banks.values())
    earlier = SymbolFeatures.__new__(SymbolFeatures)
    earlier.__setstate__({"names": state.names, "banks": copy.deepcopy(state.banks)})
    resumed = [pickle.loads(pickle.dumps(state)), copy.deepcopy(state), earlier]
    for batch in (minutes.take(slice(300, 400)), hours.take(slice(30, 40))):
        expected = state.update(batch).columns
        for copy_ in resumed:
            got = copy_.update(batch).columns
            assert all(np.array_equal(got[k], expected[k], equal_nan=True) for k in expected)
