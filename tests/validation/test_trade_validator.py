"""TradeValidator: every reason code, hostile values, state across batches, real data."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from connectors.files import load_trades, shipped_path
from operators.validation import ACCEPTED, Reason, TradeValidator, ValidationConfig
from schemas.batches import TradeBatch

SECOND = 1_000_000_000
T0 = 1_610_064_000 * SECOND  # 2021-01-08T00:00:00Z
NAN, INF = float("nan"), float("inf")
REJECT = ValidationConfig(outlier_policy="reject")  # outliers dead-lettered, not flagged


def trades(
    prices: list[float],
    amounts: list[float] | None = None,
    ts: list[int] | None = None,
    ids: list[int] | None = None,
    symbol: str = "BTC/USDT",
) -> TradeBatch:
    n = len(prices)
    return TradeBatch.from_columns(
        symbol,
        ts if ts is not None else [T0 + i * SECOND for i in range(n)],
        prices,
        amounts if amounts is not None else [1.0] * n,
        trade_id=ids if ids is not None else list(range(n)),
        source="test",
    )


def steady(n: int, start_id: int = 0, t0: int = T0, price: float = 100.0) -> TradeBatch:
    """n plausible trades around ``price`` (±0.05 %), one per second."""
    wiggle = price * 0.0005 * np.sin(np.arange(n))
    return trades(
        list(price + wiggle),
        ts=[t0 + i * SECOND for i in range(n)],
        ids=list(range(start_id, start_id + n)),
    )


@pytest.mark.parametrize(
    ("price", "amount", "reason", "detail"),
    [
        (NAN, 1.0, Reason.NON_FINITE_PRICE, "price nan is not finite"),
        (INF, 1.0, Reason.NON_FINITE_PRICE, "price inf is not finite"),
        (-INF, 1.0, Reason.NON_FINITE_PRICE, "price -inf is not finite"),
        (100.0, NAN, Reason.NON_FINITE_AMOUNT, "amount nan is not finite"),
        (100.0, INF, Reason.NON_FINITE_AMOUNT, "amount inf is not finite"),
        (0.0, 1.0, Reason.NON_POSITIVE_PRICE, "price 0.0 is not positive"),
        (-5.0, 1.0, Reason.NON_POSITIVE_PRICE, "price -5.0 is not positive"),
        (100.0, 0.0, Reason.NON_POSITIVE_AMOUNT, "amount 0.0 is not positive"),
        (100.0, -1.0, Reason.NON_POSITIVE_AMOUNT, "amount -1.0 is not positive"),
        (1e300, 1.0, Reason.PRICE_OUT_OF_RANGE, "price 1e+300 is above max_price 1e+12"),
        (100.0, 1e300, Reason.AMOUNT_OUT_OF_RANGE, "amount 1e+300 is above max_amount 1e+15"),
        (NAN, NAN, Reason.NON_FINITE_PRICE, "price nan is not finite"),  # first check wins
    ],
)
def test_value_checks(price: float, amount: float, reason: Reason, detail: str) -> None:
    validator = TradeValidator("BTC/USDT")
    good, dead = validator.validate(trades([100.0, price, 101.0], [1.0, amount, 1.0]))
    assert good.price.tolist() == [100.0, 101.0] and good.trade_id.tolist() == [0, 2]
    (letter,) = dead
    assert (letter.reason, letter.detail) == (reason.value, detail)
    assert letter.symbol == "BTC/USDT" and letter.source == "test"
    assert letter.ts == datetime(2021, 1, 8, 0, 0, 1, tzinfo=UTC)
    raw = json.loads(letter.raw)
    assert raw["trade_id"] == 1 and raw["ts_ns"] == T0 + SECOND
    assert validator.counts == {ACCEPTED: 2, reason.value: 1}


def test_timestamps_before_1970_after_2100_or_far_ahead_are_out_of_range() -> None:
    validator = TradeValidator("BTC/USDT")
    ancient = -1_000_000_000 * SECOND  # 1938: no market data predates the epoch here
    year_2150 = 5_680_000_000 * SECOND
    ahead = T0 + 3 * 86_400 * SECOND  # 3 days past the previous trade
    good, dead = validator.validate(
        trades([100.0] * 5, ts=[T0, ancient, year_2150, ahead, T0 + SECOND])
    )
    assert good.ts_ns.tolist() == [T0, T0 + SECOND]
    assert [d.reason for d in dead] == [Reason.TIMESTAMP_OUT_OF_RANGE.value] * 3
    assert "is before min_timestamp 1970-01-01T00:00:00+00:00" in dead[0].detail
    assert "is after max_timestamp 2100-01-01T00:00:00+00:00" in dead[1].detail
    assert dead[2].detail == (
        "ts 2021-01-11T00:00:00+00:00 is more than max_time_jump 1 day, 0:00:00 after the latest "
        "accepted event time 2021-01-08T00:00:00+00:00"
    )


def test_the_jump_reference_follows_accepted_rows_within_a_batch_and_across_batches() -> None:
    validator = TradeValidator("BTC/USDT", ValidationConfig(max_time_jump=timedelta(hours=1)))
    half_hour = 1800 * SECOND
    # a steady walk of half hours is fine even though it spans far more than one hour
    walk = [T0 + k * half_hour for k in range(10)]
    good, dead = validator.validate(trades([100.0] * 10, ts=walk))
    assert len(good) == 10 and dead == []
    wild = walk[-1] + 5 * half_hour
    batch = trades([100.0] * 3, ts=[wild, walk[-1] + half_hour, wild], ids=[20, 21, 22])
    good, dead = validator.validate(batch)
    assert good.ts_ns.tolist() == [walk[-1] + half_hour]  # the second wild one is still > 1 h
    assert len(dead) == 2


def test_backwards_timestamps_pass_for_the_watermark_to_handle() -> None:
    validator = TradeValidator("BTC/USDT")
    good, dead = validator.validate(
        trades([100.0] * 3, ts=[T0 + 10 * SECOND, T0, T0 - 3600 * SECOND])
    )
    assert len(good) == 3 and dead == []


def test_a_long_consistent_jump_becomes_the_new_present() -> None:
    config = ValidationConfig(max_time_jump=timedelta(hours=1), resync_after=5)
    validator = TradeValidator("BTC/USDT", config)
    validator.validate(steady(10))
    later = T0 + 30 * 86_400 * SECOND  # the feed comes back a month later
    good, dead = validator.validate(steady(8, start_id=100, t0=later))
    # five consistent rows re-anchor the stream (and stay dead letters); the next three pass
    assert [d.reason for d in dead] == [Reason.TIMESTAMP_OUT_OF_RANGE.value] * 5
    assert good.trade_id.tolist() == [105, 106, 107]
    good, dead = validator.validate(steady(4, start_id=200, t0=later + 10 * SECOND))
    assert len(good) == 4 and dead == []


def test_duplicate_ids_within_a_batch_and_across_batches() -> None:
    validator = TradeValidator("BTC/USDT")
    good, dead = validator.validate(trades([100.0] * 4, ids=[10, 11, 10, -1]))
    assert good.trade_id.tolist() == [10, 11, -1]
    assert [(d.reason, d.detail) for d in dead] == [
        (Reason.DUPLICATE_TRADE_ID.value, "trade_id 10 was already seen for BTC/USDT")
    ]
    good, dead = validator.validate(trades([100.0] * 4, ids=[12, 11, -1, 9]))
    assert good.trade_id.tolist() == [12, -1, 9]  # 9 is older but was never accepted
    assert [json.loads(d.raw)["trade_id"] for d in dead] == [11]


def test_an_id_of_a_rejected_row_is_not_a_duplicate() -> None:
    validator = TradeValidator("BTC/USDT")
    good, dead = validator.validate(trades([NAN, 100.0], ids=[5, 5]))
    assert good.trade_id.tolist() == [5]
    assert [d.reason for d in dead] == [Reason.NON_FINITE_PRICE.value]


def test_dedupe_memory_is_bounded_by_the_window() -> None:
    validator = TradeValidator("BTC/USDT", ValidationConfig(dedupe_window=3))
    validator.validate(trades([100.0] * 5, ids=[1, 2, 3, 4, 5]))
    good, dead = validator.validate(trades([100.0] * 2, ids=[5, 1]))
    assert good.trade_id.tolist() == [1]  # forgotten: beyond the last three accepted ids
    assert [json.loads(d.raw)["trade_id"] for d in dead] == [5]


def test_price_outlier_is_flagged_with_its_statistic() -> None:
    validator = TradeValidator("BTC/USDT", REJECT)
    validator.validate(steady(200))
    good, dead = validator.validate(trades([100.02, 250.0, 99.97], ids=[500, 501, 502]))
    assert good.price.tolist() == [100.02, 99.97]
    (letter,) = dead
    assert letter.reason == Reason.PRICE_OUTLIER.value
    assert letter.detail.startswith("price 250.0 has robust z-score ")
    assert "> 10.0 (|price − median 100.0" in letter.detail
    assert "over the last 500 accepted prices" in letter.detail


def test_no_outlier_judgement_before_minimum_history() -> None:
    validator = TradeValidator(
        "BTC/USDT", ValidationConfig(outlier_min_history=20, outlier_policy="reject")
    )
    good, dead = validator.validate(trades([100.0] * 10 + [1000.0] + [100.0] * 9))
    assert len(good) == 20 and dead == []
    good, dead = validator.validate(trades([5000.0], ids=[99]))
    assert [d.reason for d in dead] == [Reason.PRICE_OUTLIER.value]


def test_flat_window_with_zero_mad_uses_the_relative_floor() -> None:
    validator = TradeValidator(
        "X/Y", ValidationConfig(outlier_min_relative_scale=1e-3, outlier_policy="reject")
    )
    validator.validate(trades([0.0014] * 100, symbol="X/Y"))
    # floor: 0.1 % of the median → threshold 10 means 1 % away
    good, dead = validator.validate(
        trades([0.001405, 0.001416, 0.00142], ids=[200, 201, 202], symbol="X/Y")
    )
    assert good.price.tolist() == [0.001405]
    assert [d.reason for d in dead] == [Reason.PRICE_OUTLIER.value] * 2


def test_a_real_level_shift_is_accepted_after_resync() -> None:
    validator = TradeValidator(
        "BTC/USDT", ValidationConfig(resync_after=20, outlier_policy="reject")
    )
    validator.validate(steady(300))
    crash = steady(60, start_id=1000, t0=T0 + 300 * SECOND, price=70.0)  # -30 % and stays
    good, dead = validator.validate(crash)
    assert len(dead) == 20 and all(d.reason == Reason.PRICE_OUTLIER.value for d in dead)
    assert good.trade_id.tolist() == list(range(1020, 1060))


def test_batch_of_another_symbol_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="validator of BTC/USDT got a batch of ETH/USDT"):
        TradeValidator("BTC/USDT").validate(trades([1.0], symbol="ETH/USDT"))


def test_empty_batch_and_all_bad_batch() -> None:
    validator = TradeValidator("BTC/USDT")
    good, dead = validator.validate(TradeBatch.empty("BTC/USDT"))
    assert len(good) == 0 and dead == []
    good, dead = validator.validate(trades([NAN, -1.0, 0.0]))
    assert len(good) == 0 and len(dead) == 3


def test_state_pickles_and_continues_identically() -> None:
    original = TradeValidator("BTC/USDT", REJECT)
    original.validate(steady(100))
    copy = pickle.loads(pickle.dumps(original))
    probe = trades([100.01, 300.0, 100.0], ids=[5, 500, 501], ts=[T0 + 200 * SECOND] * 3)
    results = [v.validate(probe) for v in (original, copy)]
    assert [d.reason for d in results[0][1]] == [d.reason for d in results[1][1]]
    assert [d.reason for d in results[0][1]] == ["duplicate_trade_id", "price_outlier"]
    assert original.counts == copy.counts


def test_a_snapshot_leaves_out_the_last_batchs_flags_and_the_default_configuration() -> None:
    validator = TradeValidator("BTC/USDT")
    validator.validate(steady(100))
    lean = len(pickle.dumps(validator))
    validator.validate(
        trades([100.0, 100.01, 300.0], ids=[900, 901, 902], ts=[T0 + 300 * SECOND] * 3)
    )
    assert len(validator.flags) == 1  # kept under outlier_policy: flag, read after the batch
    restored = pickle.loads(pickle.dumps(validator))
    assert restored.flags == [] and restored.counts == validator.counts
    assert restored.config == validator.config
    assert len(pickle.dumps(validator.config)) < 120
    assert len(pickle.dumps(validator)) < lean + 200
    bounded = ValidationConfig(max_price=5e4, max_time_jump=timedelta(hours=2))
    assert pickle.loads(pickle.dumps(bounded)) == bounded


@pytest.mark.parametrize("name", ["xrp-eth_trades_2019-10", "btcusdt_trades_2021-01-08"])
def test_real_trades_pass_untouched(name: str) -> None:
    loaded = load_trades(shipped_path(name))
    validator = TradeValidator(loaded.symbols[0])
    accepted = 0
    (batch,) = loaded.batches()
    for start in range(0, len(batch), 997):
        good, dead = validator.validate(batch.take(np.arange(start, min(start + 997, len(batch)))))
        assert dead == []
        accepted += len(good)
    assert accepted == len(loaded) == validator.counts[ACCEPTED]
