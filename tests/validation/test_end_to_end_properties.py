"""Hostile CSV files through the loader and the validator: every row is accounted for once.

Each generated row is either good or bad in one known way. Whatever the mix and however the
rows are cut into batches: good + dead letters == rows read, every bad row is a dead letter with
its expected reason, and every good row comes out.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.files import MISSING_VALUE, UNPARSEABLE_VALUE, load_trades
from operators.validation import Reason, TradeValidator, ValidationConfig

T0 = datetime(2021, 1, 8, tzinfo=UTC).timestamp()
PREFIX = 10  # good rows first, so the outlier check has history

# kind → (price, amount, timestamp text or None = on time, id or None = own id, reason)
KINDS: dict[str, tuple[str, str, str | None, int | None, str | None]] = {
    "good": ("100.01", "1.5", None, None, None),
    "text_price": ("abc", "1", None, None, UNPARSEABLE_VALUE),
    "empty_price": ("", "1", None, None, MISSING_VALUE),
    "text_time": ("100", "1", "yesterday", None, UNPARSEABLE_VALUE),
    "nan_price": ("nan", "1", None, None, Reason.NON_FINITE_PRICE),
    "inf_amount": ("100", "inf", None, None, Reason.NON_FINITE_AMOUNT),
    "minus_inf_price": ("-inf", "1", None, None, Reason.NON_FINITE_PRICE),
    "negative_price": ("-100", "1", None, None, Reason.NON_POSITIVE_PRICE),
    "zero_amount": ("100", "0", None, None, Reason.NON_POSITIVE_AMOUNT),
    "huge_price": ("1e300", "1", None, None, Reason.PRICE_OUT_OF_RANGE),
    "huge_amount": ("100", "1e300", None, None, Reason.AMOUNT_OUT_OF_RANGE),
    "before_1970": ("100", "1", "1969-01-01T00:00:00Z", None, Reason.TIMESTAMP_OUT_OF_RANGE),
    "far_future": ("100", "1", "2021-02-08T00:00:00Z", None, Reason.TIMESTAMP_OUT_OF_RANGE),
    "duplicate_id": ("100", "1", None, 0, Reason.DUPLICATE_TRADE_ID),
    "outlier": ("1000000", "1", None, None, Reason.PRICE_OUTLIER),
}

CONFIG = ValidationConfig(outlier_min_history=5, resync_after=10_000, outlier_policy="reject")


def write_rows(folder: Path, kinds: list[str], order: list[int]) -> Path:
    """One CSV row per kind (after PREFIX good rows), written in a shuffled order."""
    lines = []
    for row, kind in enumerate(["good"] * PREFIX + kinds):
        price, amount, stamp, same_id, _ = KINDS[kind]
        when = stamp or datetime.fromtimestamp(T0 + row, UTC).isoformat()
        trade_id = row if same_id is None else same_id
        lines.append(f"{when},{price},{amount},{trade_id}")
    shuffled = lines[:PREFIX] + [lines[PREFIX + i] for i in order]
    path = folder / "btcusdt_trades.csv"
    path.write_text("timestamp,price,qty,id\n" + "\n".join(shuffled) + "\n")
    return path


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    data=st.data(),
    kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=40),
    batch_size=st.integers(1, 17),
)
def test_every_row_ends_up_good_or_dead_exactly_once(
    data: st.DataObject, kinds: list[str], batch_size: int
) -> None:
    order = data.draw(st.permutations(range(len(kinds))))
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_trades(write_rows(Path(folder), kinds, list(order)))
    assert loaded.rows_read == PREFIX + len(kinds)

    validator = TradeValidator("BTC/USDT", CONFIG)
    good_ids: list[int] = []
    validation_dead = []
    for batch in loaded.batches():  # one symbol: at most one batch
        for start in range(0, len(batch), batch_size):
            chunk = batch.take(np.arange(start, min(start + batch_size, len(batch))))
            good, dead = validator.validate(chunk)
            good_ids += good.trade_id.tolist()
            validation_dead += dead

    dead_letters = loaded.dead_letters + validation_dead
    assert len(good_ids) + len(dead_letters) == loaded.rows_read
    expected_good = list(range(PREFIX)) + [
        PREFIX + i for i, kind in enumerate(kinds) if kind == "good"
    ]
    assert sorted(good_ids) == expected_good
    expected_reasons = Counter(str(KINDS[k][4]) for k in kinds if k != "good")
    assert Counter(d.reason for d in dead_letters) == expected_reasons
    for letter in dead_letters:
        assert letter.symbol == "BTC/USDT" and letter.detail and json.loads(letter.raw)
    counted = Counter(validator.counts)
    assert counted.pop("accepted", 0) == len(good_ids)
    assert counted == Counter(d.reason for d in validation_dead)
