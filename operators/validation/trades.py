"""Validation of one symbol's trade batches: a pure, picklable core."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import numpy as np

from operators.candles.calendars import MarketCalendar
from operators.validation.config import ValidationConfig
from operators.validation.dedupe import RecentIds
from operators.validation.outliers import PriceOutlierDetector
from operators.validation.reasons import ACCEPTED, FLAGGED, Reason
from operators.validation.sources import SourcePrices
from operators.validation.timeguard import EventTimeGuard, reject_times
from operators.validation.verdicts import Verdicts, row_json
from schemas.batches import TradeBatch
from schemas.common import ns_to_datetime
from schemas.records import DeadLetter, QualityFlag

_provably_clean: Any = None


def _clean_check() -> Any:
    """The compiled fast-path proof (:mod:`._kernels`), imported with numba on first use."""
    global _provably_clean
    if _provably_clean is None:
        from operators.validation._kernels import provably_clean

        _provably_clean = provably_clean
    return _provably_clean


def _contiguous(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as a writable C-contiguous array of ``dtype`` (one compiled signature)."""
    if values.dtype == dtype and values.flags.c_contiguous and values.flags.writeable:
        return values
    return np.array(values, dtype=dtype, order="C")


class TradeValidator:
    """Checks the trades of one symbol, batch by batch, and keeps counts per reason.

    Checks, in order (a row gets the reason of the first it fails):

    1. ``non_finite_price`` / ``non_finite_amount`` — NaN or ±inf;
    2. ``non_positive_price`` / ``non_positive_amount`` — zero or negative;
    3. ``price_out_of_range`` / ``amount_out_of_range`` — above ``max_price``/``max_amount``;
    4. ``timestamp_out_of_range`` — before ``min_timestamp``, after ``max_timestamp`` or more
       than ``max_time_jump`` past the latest accepted trade (:mod:`.timeguard`), counting
       only the time the ``calendar``'s market was open;
    5. ``duplicate_trade_id`` — id seen recently for the symbol (:mod:`.dedupe`);
    6. price outliers — robust z-score above the threshold (:mod:`.outliers`). A venue's own
       trade is kept by default (``outlier_policy: flag``): it is counted under
       ``flagged:price_outlier`` and described by a :class:`~schemas.records.QualityFlag`
       (:attr:`flags`). It is dead-lettered as ``disputed_price`` when another source of
       the symbol contradicts it (:mod:`.sources`), and as ``price_outlier`` under
       ``outlier_policy: reject``.

    Trades going backwards in time pass: the candle builder's watermark sends them to its late
    stream. Every check is vectorized over the batch with numpy; a batch with no bad row (the
    usual case) is proven clean of checks 1-5 by one compiled pass and goes straight to the
    outlier test (:mod:`._kernels`).

    >>> v = TradeValidator("BTC/USDT")
    >>> batch = TradeBatch.from_columns("BTC/USDT", [1_610_064_000_000_000_000] * 3,
    ...                                 [39432.5, float("nan"), 39433.0], [0.1, 0.2, -1.0],
    ...                                 trade_id=[1, 2, 3])
    >>> good, dead = v.validate(batch)
    >>> len(good)
    1
    >>> for letter in dead:
    ...     print(letter.reason, "|", letter.detail)
    non_finite_price | price nan is not finite
    non_positive_amount | amount -1.0 is not positive
    >>> dict(v.counts)
    {'non_finite_price': 1, 'non_positive_amount': 1, 'accepted': 1}
    """

    def __init__(
        self,
        symbol: str,
        config: ValidationConfig | None = None,
        calendar: MarketCalendar | None = None,
    ) -> None:
        self.symbol = symbol
        self.config = config or ValidationConfig()
        self.counts: Counter[str] = Counter()
        self._time = EventTimeGuard.from_config(self.config, calendar)
        self._ids = RecentIds(self.config.dedupe_window)
        self._prices = PriceOutlierDetector.from_config(self.config)
        self._sources = SourcePrices(
            self.config.second_source_threshold_bps,
            int(self.config.second_source_max_skew.total_seconds() * 1e9),
        )
        self._flags: list[QualityFlag] = []
        self.rows_seen: Counter[str] = Counter()
        """Rows judged per source: a row's position in its stream names its occurrence."""

    def __deepcopy__(self, memo: dict[int, object]) -> TradeValidator:
        """Bytewax snapshots state by deep copy every epoch; the config is frozen: share it."""
        clone = TradeValidator.__new__(TradeValidator)
        clone.symbol, clone.config = self.symbol, self.config
        clone.counts = Counter(self.counts)
        clone._time = copy.deepcopy(self._time, memo)
        clone._ids = copy.deepcopy(self._ids, memo)
        clone._prices = copy.deepcopy(self._prices, memo)
        clone._sources = copy.deepcopy(self._sources, memo)
        clone._flags = list(self._flags)
        clone.rows_seen = Counter(self.rows_seen)
        return clone

    def __getstate__(self) -> dict[str, object]:
        """Everything but the last batch's quality flags (read right after :meth:`validate`,
        never carried to the next batch: a snapshot after a batch of flagged outliers would
        hold tens of kilobytes of them)."""
        state = dict(self.__dict__)
        state["_flags"] = []
        return state

    @property
    def flags(self) -> list[QualityFlag]:
        """Quality flags of the trades the last :meth:`validate` call kept despite a doubt."""
        return list(self._flags)

    def validate(self, batch: TradeBatch) -> tuple[TradeBatch, list[DeadLetter]]:
        """The good rows of ``batch`` (in their order) and one dead letter per bad row."""
        if batch.symbol != self.symbol:
            raise ValueError(f"validator of {self.symbol} got a batch of {batch.symbol}")
        v = Verdicts(len(batch))
        self._flags = []
        first_row = self.rows_seen[batch.source]
        self.rows_seen[batch.source] += len(batch)
        if self._provably_clean(batch):
            self._time.note_no_jumps()
        else:
            self._check_rows(batch, v)
        self._judge_outliers(batch, v, first_row)
        self.counts.update(v.counts())
        if v.all_ok:
            self._accept(batch)
            return batch, []
        good = batch.take(v.ok)
        self._accept(good)
        return good, v.dead_letters(batch, first_row, "trade")

    def _judge_outliers(self, batch: TradeBatch, v: Verdicts, first_row: int) -> None:
        """Check 6: flag (and keep), or reject, the prices far from the recent ones."""
        price, cfg = batch.price, self.config
        out = self._prices.check(price, v.ok)
        if not out.flagged.any():
            return

        def describe(i: int) -> str:
            return (
                f"price {price[i]} has robust z-score {out.z[i]:.1f} > {cfg.outlier_threshold} "
                f"(|price − median {out.median[i]:.10g}| / scale {out.scale[i]:.3g}, over the "
                f"last {cfg.outlier_window} accepted prices)"
            )

        if cfg.outlier_policy == "reject":
            v.reject(out.flagged, Reason.PRICE_OUTLIER, describe)
            return
        disputed = out.flagged & self._sources.disputes(batch.source, batch.ts_ns, price)
        v.reject(
            disputed,
            Reason.DISPUTED_PRICE,
            lambda i: (
                f"{describe(i)}; another source of {self.symbol} disagrees by more "
                f"than {cfg.second_source_threshold_bps:g} bps"
            ),
        )
        kept = np.flatnonzero(out.flagged & ~disputed)
        self.counts[f"{FLAGGED}:{Reason.PRICE_OUTLIER.value}"] += int(kept.size)
        self._flags.extend(
            QualityFlag(
                source=batch.source,
                symbol=self.symbol,
                reason=Reason.PRICE_OUTLIER.value,
                detail=f"{describe(i)}; kept (outlier_policy: flag)",
                raw=row_json(batch, i),
                ts=ns_to_datetime(int(batch.ts_ns[i])),
                occurrence=f"trade #{first_row + i}",
            )
            for i in kept.tolist()
        )

    def _check_rows(self, batch: TradeBatch, v: Verdicts) -> None:
        """Checks 1-5, vectorized, row by row verdicts (the path for batches with bad rows)."""
        cfg = self.config
        price, amount, ts = batch.price, batch.amount, batch.ts_ns
        with np.errstate(invalid="ignore"):
            checks = (
                (~np.isfinite(price), Reason.NON_FINITE_PRICE, "price", price, "is not finite"),
                (~np.isfinite(amount), Reason.NON_FINITE_AMOUNT, "amount", amount, "is not finite"),
                (price <= 0, Reason.NON_POSITIVE_PRICE, "price", price, "is not positive"),
                (amount <= 0, Reason.NON_POSITIVE_AMOUNT, "amount", amount, "is not positive"),
                (price > cfg.max_price, Reason.PRICE_OUT_OF_RANGE, "price", price,
                 f"is above max_price {cfg.max_price:g}"),
                (amount > cfg.max_amount, Reason.AMOUNT_OUT_OF_RANGE, "amount", amount,
                 f"is above max_amount {cfg.max_amount:g}"),
            )  # fmt: skip
        for mask, reason, name, values, problem in checks:
            v.reject(mask, reason, lambda i, n=name, x=values, p=problem: f"{n} {x[i]} {p}")
        reject_times(v, ts, self._time.check(ts, v.ok), cfg)
        ids = batch.trade_id
        v.reject(
            self._ids.duplicates(ids, v.ok),
            Reason.DUPLICATE_TRADE_ID,
            lambda i: f"trade_id {ids[i]} was already seen for {self.symbol}",
        )

    def _provably_clean(self, batch: TradeBatch) -> bool:
        """One compiled pass proving that no row fails checks 1-5 (see :mod:`._kernels`)."""
        if len(batch) == 0:
            return False
        guard, cfg = self._time, self.config
        return bool(
            _clean_check()(
                _contiguous(batch.price, np.float64),
                _contiguous(batch.amount, np.float64),
                _contiguous(batch.ts_ns, np.int64),
                _contiguous(batch.trade_id, np.int64),
                cfg.max_price,
                cfg.max_amount,
                guard.min_ns,
                guard.max_ns,
                guard.max_jump_ns,
                0 if guard.latest_ns is None else guard.latest_ns,
                guard.latest_ns is not None,
                self._ids.max_id,
            )
        )

    def _accept(self, good: TradeBatch) -> None:
        self._time.accept(good.ts_ns)
        self._ids.remember(good.trade_id)
        self._sources.remember(good.source, good.ts_ns, good.price)
        self.counts[ACCEPTED] += len(good)
