"""Bytewax operator: closed candles → indicator features, one bank per (symbol, timeframe).

The indicator maths lives in :mod:`operators.indicators` (pure, incremental, picklable); this
module only routes. One keyed ``stateful_map`` step per symbol holds a dict of
:class:`~operators.indicators.bank.IndicatorBank` by timeframe, so a symbol's whole feature
state is one small snapshot.

Usage (``candles`` is a ``KeyedStream[CandleBatch]`` keyed by symbol, each timeframe in time
order)::

    from operators.features import compute_features

    streams = compute_features("features", candles, ("rsi_14", "ema_20", "atr_20"))
    op.output("features_out", streams.features, feature_sink)   # FeatureBatch items
    op.output("features_dead", streams.dead, dead_letter_sink)   # refused rows
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import operator
from bytewax.operators import KeyedStream

from operators.indicators.bank import IndicatorBank, feature_names_for
from operators.snapshot_encoding import packed, unpacked
from operators.validation.verdicts import row_json
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import ns_to_datetime
from schemas.records import DeadLetter


class SymbolFeatures:
    """Feature state of one symbol: an indicator bank per timeframe, created on first use.

    >>> from schemas import Timeframe
    >>> state = SymbolFeatures(("sma_2",))
    >>> bars = CandleBatch.from_columns("X/Y", Timeframe.M1, [0, 60_000_000_000],
    ...     [1.0, 3.0], [1.0, 3.0], [1.0, 3.0], [1.0, 3.0], [1.0, 1.0])
    >>> state.update(bars).columns["sma_2"].tolist()
    [nan, 2.0]
    """

    __slots__ = ("banks", "names")

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.banks: dict[str, IndicatorBank] = {}

    def update(self, candles: CandleBatch) -> FeatureBatch:
        bank = self.banks.get(candles.timeframe.value)
        if bank is None:
            bank = self.banks[candles.timeframe.value] = IndicatorBank(self.names)
        columns = bank.update_batch(candles)
        if candles.spread is not None:  # candles of quotes: the spread is a feature too
            columns = {**columns, "spread": candles.spread}
        return FeatureBatch(candles, columns)

    def __getstate__(self) -> dict[str, object]:
        """The names, and the banks (a state vector per timeframe, mostly windows of nearby
        prices) as one compressed pickle: a third of their raw size."""
        return {"names": self.names, "banks": packed(self.banks)}

    def __deepcopy__(self, memo: dict[int, object]) -> SymbolFeatures:
        """Bytewax snapshots the state by deep copy at every epoch: copy only the state vectors."""
        clone = SymbolFeatures.__new__(SymbolFeatures)
        clone.names = self.names
        clone.banks = {tf: copy.deepcopy(bank, memo) for tf, bank in self.banks.items()}
        return clone

    def __setstate__(self, state: dict[str, object]) -> None:
        self.names = state["names"]  # type: ignore[assignment]
        banks = state["banks"]  # compressed, or a plain dict in the earlier form
        self.banks = unpacked(banks) if isinstance(banks, bytes) else banks  # type: ignore[assignment]


def _refused(candles: CandleBatch, error: ValueError) -> list[DeadLetter]:
    """Every row of a batch an indicator bank refused, as dead letters (nothing is lost)."""
    return [
        DeadLetter(
            source=candles.source,
            symbol=candles.symbol,
            reason="rejected_by_indicators",
            detail=str(error),
            raw=row_json(candles, i),
            ts=ns_to_datetime(int(candles.ts_ns[i])),
            # a refused batch is met once per its first bar: rows count within it
            occurrence=f"batch at {int(candles.ts_ns[0])} row {i}",
        )
        for i in range(len(candles))
    ]


@dataclass(frozen=True)
class FeatureStreams:
    """Outputs of :func:`compute_features`."""

    features: KeyedStream[FeatureBatch]
    dead: KeyedStream[DeadLetter]


@operator
def compute_features(
    step_id: str, up: KeyedStream[CandleBatch], names: Sequence[str]
) -> FeatureStreams:
    """Closed candle batches keyed by symbol → ``FeatureBatch`` with the named indicator columns.

    :arg step_id: Unique ID.
    :arg up: ``CandleBatch`` items keyed by symbol; each timeframe in open-time order.
    :arg names: Feature names (``rsi_14``, ``ema_20``, ``macd`` …); an unknown name fails when
        the flow is built, naming it.
    :returns: :class:`FeatureStreams`: ``features`` (one ``FeatureBatch`` per input batch) and
        ``dead`` (rows of a batch a bank refused — out of order, non-positive …; the bank's
        state is left as it was).
    """
    chosen = feature_names_for(names)

    def mapper(
        state: SymbolFeatures | None, candles: CandleBatch
    ) -> tuple[SymbolFeatures, list[FeatureBatch | DeadLetter]]:
        state = state or SymbolFeatures(chosen)
        try:
            return state, [state.update(candles)]
        except ValueError as error:
            return state, list(_refused(candles, error))

    out = op.stateful_flat_map("banks", up, mapper)
    split = op.branch("split", out, lambda item: isinstance(item[1], FeatureBatch))
    return FeatureStreams(features=split.trues, dead=split.falses)
