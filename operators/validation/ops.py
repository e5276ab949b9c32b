"""Thin Bytewax operators over the validators: keyed batches in, valid batches + dead letters out.

Each symbol's validator is the state of a ``stateful_flat_map`` (picklable, so it survives
recovery); the step emits the good batch and the dead letters, and a ``branch`` splits them.

>>> import bytewax.operators as op
>>> from bytewax.dataflow import Dataflow
>>> from bytewax.testing import TestingSink, TestingSource, run_main
>>> from schemas.batches import TradeBatch
>>> t0 = 1_610_064_000_000_000_000
>>> batch = TradeBatch.from_columns("BTC/USDT", [t0, t0 + 1], [100.0, -1.0], [1.0, 1.0])
>>> flow = Dataflow("validate_doc")
>>> keyed = op.key_on("key", op.input("in", flow, TestingSource([batch])), lambda b: b.symbol)
>>> checked = validate_trades("validate", keyed)
>>> valid, dead = [], []
>>> op.output("valid", checked.valid, TestingSink(valid))
>>> op.output("dead", checked.dead, TestingSink(dead))
>>> run_main(flow)
>>> [(key, len(b)) for key, b in valid], [d.reason for d in dead]
([('BTC/USDT', 1)], ['non_positive_price'])
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream

from operators.candles.instruments import InstrumentsConfig
from operators.validation.candles import CandleValidator
from operators.validation.config import ValidationConfig
from operators.validation.trades import TradeValidator
from schemas.batches import CandleBatch, TradeBatch
from schemas.records import DeadLetter, QualityFlag


class ValidationTally:
    """Counts per symbol and reason, shared by the operators of a run (for its summary).

    Thread-safe (Bytewax workers are threads of one process); a process of a cluster counts
    its own symbols only. After a resume it counts what this execution validated.

    >>> tally = ValidationTally()
    >>> tally.add("BTC/USDT", Counter(accepted=3, price_outlier=1))
    >>> tally.totals()
    Counter({'accepted': 3, 'price_outlier': 1})
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_symbol: dict[str, Counter[str]] = {}

    def add(self, symbol: str, counts: Counter[str]) -> None:
        with self._lock:
            self._by_symbol.setdefault(symbol, Counter()).update(counts)

    def by_symbol(self) -> dict[str, Counter[str]]:
        with self._lock:
            return {s: Counter(c) for s, c in self._by_symbol.items()}

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.by_symbol().values():
            total.update(counts)
        return total


@dataclass(frozen=True)
class ValidatedTrades:
    """Streams out of :func:`validate_trades`."""

    valid: KeyedStream[TradeBatch]
    dead: Stream[DeadLetter]
    flags: Stream[QualityFlag]
    """Trades kept despite a doubt (a price outlier under ``outlier_policy: flag``)."""


@dataclass(frozen=True)
class ValidatedCandles:
    """Streams out of :func:`validate_candles`."""

    valid: KeyedStream[CandleBatch]
    dead: Stream[DeadLetter]


Validator = TradeValidator | CandleValidator


def _checker(
    factory: type[Validator],
    config: ValidationConfig,
    tally: ValidationTally | None,
    instruments: InstrumentsConfig | None,
):
    """The stateful step's mapper: (validator | None, batch) → (validator, [good?, *dead]).

    A symbol's validator takes its instrument's calendar and bounds (see
    :mod:`operators.candles.instruments`); without instruments every symbol is 24/7.
    """

    def make(symbol: str) -> Validator:
        if instruments is None:
            return factory(symbol, config)
        instrument = instruments.instrument_for(symbol)
        bounded = ValidationConfig.model_validate({**config.model_dump(), **instrument.bounds()})
        return factory(symbol, bounded, instrument.market_calendar)

    def check(
        validator: Validator | None, batch: TradeBatch | CandleBatch
    ) -> tuple[Validator, Iterable[TradeBatch | CandleBatch | DeadLetter | QualityFlag]]:
        if validator is None:
            validator = make(batch.symbol)
        before = Counter(validator.counts)
        good, dead = validator.validate(batch)  # type: ignore[arg-type]
        if tally is not None:
            tally.add(batch.symbol, validator.counts - before)
        out: list[TradeBatch | CandleBatch | DeadLetter | QualityFlag] = [good] if len(good) else []
        out.extend(dead)
        if isinstance(validator, TradeValidator):
            out.extend(validator.flags)
        return validator, out

    return check


def _is_dead(item: tuple[str, object]) -> bool:
    return isinstance(item[1], DeadLetter)


def _is_record(item: tuple[str, object]) -> bool:
    return isinstance(item[1], DeadLetter | QualityFlag)


def _value(item: tuple[str, DeadLetter | QualityFlag]) -> DeadLetter | QualityFlag:
    return item[1]


@operator
def validate_trades(
    step_id: str,
    up: KeyedStream[TradeBatch],
    config: ValidationConfig | None = None,
    tally: ValidationTally | None = None,
    instruments: InstrumentsConfig | None = None,
) -> ValidatedTrades:
    """Validate keyed trade batches: ``.valid`` keyed good batches, ``.dead`` dead letters,
    ``.flags`` quality flags of kept trades.

    Empty results are not emitted (a batch whose rows are all bad yields dead letters only).
    """
    checker = _checker(TradeValidator, config or ValidationConfig(), tally, instruments)
    checked = op.stateful_flat_map("check", up, checker)
    split = op.branch("split", checked, _is_record)
    records = op.branch("split_records", split.trues, _is_dead)
    return ValidatedTrades(
        valid=split.falses,
        dead=op.map("dead", records.trues, _value),
        flags=op.map("flags", records.falses, _value),
    )


@operator
def validate_candles(
    step_id: str,
    up: KeyedStream[CandleBatch],
    config: ValidationConfig | None = None,
    tally: ValidationTally | None = None,
    instruments: InstrumentsConfig | None = None,
) -> ValidatedCandles:
    """Validate keyed candle batches: ``.valid`` keyed good batches, ``.dead`` dead letters."""
    checker = _checker(CandleValidator, config or ValidationConfig(), tally, instruments)
    checked = op.stateful_flat_map("check", up, checker)
    split = op.branch("split", checked, _is_dead)
    return ValidatedCandles(valid=split.falses, dead=op.map("dead", split.trues, _value))
