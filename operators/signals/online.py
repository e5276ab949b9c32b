"""Online learning with river: per timeframe, a classifier of the direction N candles ahead.

For every closed candle ``t`` of a timeframe the learner, in this order:

1. **learns** from candle ``t − N``: its label ``close[t] > close[t − N]`` became known just now
   (delayed labels wait in a queue, so the model never sees a label before the N-th later candle
   has closed), and scores the prediction it made back then (progressive validation, river's
   ``metrics.Accuracy``);
2. **predicts** ``P(up)`` for candle ``t`` from its features, which are known at its close;
3. queues candle ``t`` until its own label is known.

The prediction becomes a signal (direction, confidence ``|2p − 1|``) once the model has learned
from ``warmup`` labels and the confidence reaches ``min_confidence``. Its horizon — and expiry —
is the N candles the label looks at. State (models, queues, metrics) is plain picklable Python:
a restored learner predicts exactly what the original would.

Features: the configured indicator columns, made scale-free (price levels → ``level/close − 1``,
price distances → ``/close``, RSI → ``/100 − 0.5``), plus log returns over ``return_lags``.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from river import linear_model, metrics, optim, preprocessing, tree

from operators.signals.base import build_signal
from operators.signals.confidence import probability_to_confidence
from operators.signals.market_view import CandleRow, MarketView
from operators.signals.release import Release
from operators.signals.vocabulary import indicator_kind
from operators.snapshot_encoding import packed, unpacked
from schemas.common import Direction, Timeframe
from schemas.signals import Signal

_LEVEL_KINDS = frozenset(
    {"sma", "ema", "vwap", "bb_upper", "bb_middle", "bb_lower", "open", "high", "low"}
)
_DISTANCE_KINDS = frozenset({"atr", "macd", "macd_signal", "macd_hist"})


def scale_free(name: str, value: float, close: float) -> float:
    """A feature value made comparable across price levels.

    >>> scale_free("ema_20", 101.0, 100.0), scale_free("atr_14", 2.0, 100.0)
    (0.010000000000000009, 0.02)
    >>> scale_free("rsi_14", 70.0, 100.0), scale_free("zscore_20", 1.5, 100.0)
    (0.19999999999999996, 1.5)
    """
    kind = indicator_kind(name)
    if kind in _LEVEL_KINDS:
        return value / close - 1.0
    if kind in _DISTANCE_KINDS:
        return value / close
    if kind == "rsi":
        return value / 100.0 - 0.5
    return value


def scale_free_column(name: str, values: np.ndarray, closes: np.ndarray) -> np.ndarray:
    """:func:`scale_free` over a column (the same float operations, element by element).

    >>> scale_free_column("ema_20", np.array([101.0]), np.array([100.0])).tolist()
    [0.010000000000000009]
    """
    kind = indicator_kind(name)
    if kind in _LEVEL_KINDS:
        return values / closes - 1.0
    if kind in _DISTANCE_KINDS:
        return values / closes
    if kind == "rsi":
        return values / 100.0 - 0.5
    return values


def logistic_model() -> Any:
    """Standardised features into an online logistic regression (SGD)."""
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(
        optimizer=optim.SGD(0.02), l2=1e-4
    )


def hoeffding_tree_model() -> Any:
    """An incremental decision tree (Hoeffding tree) on the raw features."""
    return tree.HoeffdingTreeClassifier(grace_period=50)


MODELS: dict[str, Callable[[], Any]] = {
    "logistic": logistic_model,
    "hoeffding_tree": hoeffding_tree_model,
}


@dataclass(slots=True)
class _Pending:
    close_ns: int
    close: float
    x: dict[str, float] | None
    predicted_up: bool | None


@dataclass(slots=True)
class _TimeframeState:
    model: Any
    pending: deque[_Pending] = field(default_factory=deque)
    closes: deque[float] = field(default_factory=deque)
    accuracy: metrics.Accuracy = field(default_factory=metrics.Accuracy)
    learned: int = 0
    scored: int = 0


class OnlineDirectionLearner:
    """A :class:`~operators.signals.base.SignalGenerator` backed by river classifiers.

    >>> learner = OnlineDirectionLearner(["rsi_14"], horizon=2, timeframes=[Timeframe.H1],
    ...                                  warmup=3, min_confidence=0.0)
    >>> view, signals = MarketView(), []
    >>> for i in range(40):
    ...     close = 100.0 + (i % 4)                      # a saw-tooth the model can learn
    ...     row = CandleRow("X", Timeframe.H1, i * Timeframe.H1.ns, close, close, close, close,
    ...                     1.0, {"rsi_14": 40.0 + 10 * (i % 4)})
    ...     signals = learner.on_candle(row, view)
    >>> learner.learned(Timeframe.H1), 0.0 <= learner.accuracy(Timeframe.H1) <= 1.0
    (34, True)
    """

    origin = "ml:online"

    def __init__(
        self,
        features: Sequence[str],
        horizon: int,
        timeframes: Iterable[Timeframe],
        *,
        warmup: int = 200,
        min_confidence: float = 0.1,
        return_lags: Sequence[int] = (1, 4),
        model_factory: Callable[[], Any] = logistic_model,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1 candle, got {horizon}")
        if any(lag < 1 for lag in return_lags):
            raise ValueError(f"return_lags must be >= 1, got {list(return_lags)}")
        self.features = list(features)
        self.horizon = horizon
        self.timeframes = frozenset(timeframes)
        self.warmup = warmup
        self.min_confidence = min_confidence
        self.return_lags = tuple(return_lags)
        self.model_factory = model_factory
        self._states: dict[Timeframe, _TimeframeState] = {}

    def __getstate__(self) -> dict[str, Any]:
        """The settings, and the per-timeframe state (river models, pending rows, accuracy) as
        one zlib-compressed pickle: river's objects pickle with their attribute names and
        caches, the largest part of a symbol's signal engine snapshot, and halve compressed."""
        state = dict(self.__dict__)
        state["_states"] = packed(self._states)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state["_states"]
        if isinstance(saved, bytes):
            state = {**state, "_states": unpacked(saved)}
        self.__dict__.update(state)

    def __deepcopy__(self, memo: dict[int, Any]) -> OnlineDirectionLearner:
        """Bytewax deep-copies the state at every epoch: a plain copy, never compressed."""
        clone = OnlineDirectionLearner.__new__(OnlineDirectionLearner)
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone

    def required_features(self) -> set[str]:
        return {name for name in self.features if name != "close"}

    def accuracy(self, timeframe: Timeframe) -> float:
        """Progressive-validation accuracy so far (NaN before the first scored prediction)."""
        state = self._states.get(timeframe)
        if state is None or state.scored == 0:
            return math.nan
        return float(state.accuracy.get())

    def scored(self, timeframe: Timeframe) -> int:
        """Predictions scored against their label so far."""
        state = self._states.get(timeframe)
        return state.scored if state is not None else 0

    def learned(self, timeframe: Timeframe) -> int:
        state = self._states.get(timeframe)
        return state.learned if state is not None else 0

    def featurize(self, row: CandleRow, closes: Sequence[float]) -> dict[str, float] | None:
        """Feature dict of a candle given the closes before it (oldest first); None in warm-up."""
        x: dict[str, float] = {}
        for name in self.features:
            x[name] = scale_free(name, row.value(name), row.close)
        for lag in self.return_lags:
            if len(closes) < lag:
                return None
            x[f"ret_{lag}"] = math.log(row.close / closes[-lag])
        if not all(map(math.isfinite, x.values())):
            return None
        return x

    def featurize_rows(
        self, release: Release, timeframe: Timeframe, closes: Sequence[float]
    ) -> list[dict[str, float] | None]:
        """:meth:`featurize` of every new row of ``timeframe`` in a release, the closes before
        the first one given: columns scaled at once, the same values to the last bit."""
        held = release.held_count(timeframe)
        new_closes = release.column(timeframe, "close")[held:]
        count = len(new_closes)
        columns = [
            scale_free_column(name, release.column(timeframe, name)[held:], new_closes)
            for name in self.features
        ]
        before = len(closes)
        earlier = np.concatenate((np.array(list(closes), dtype=np.float64), new_closes))
        first = min(max(max(self.return_lags, default=0) - before, 0), count)  # every lag known
        for lag in self.return_lags:
            ratio = np.full(count, math.nan)
            if first < count:
                ratio[first:] = (
                    new_closes[first:] / earlier[before + first - lag : before + count - lag]
                )
            columns.append(np.array([math.log(v) if v == v else v for v in ratio.tolist()]))
        names = [*self.features, *(f"ret_{lag}" for lag in self.return_lags)]
        matrix = np.column_stack(columns) if columns else np.empty((count, 0))
        usable = np.isfinite(matrix).all(axis=1)
        usable[:first] = False
        return [
            dict(zip(names, values, strict=True)) if ok else None
            for ok, values in zip(usable.tolist(), matrix.tolist(), strict=True)
        ]

    def on_rows(self, release: Release) -> list[tuple[int, Signal]]:
        """Every new row of the learner's timeframes in a release, in order: features computed
        for the rows at once, then learned and predicted row by row (river is online)."""
        out: list[tuple[int, Signal]] = []
        for timeframe in release.timeframes():
            if timeframe not in self.timeframes:
                continue
            state = self._state(timeframe)
            xs = self.featurize_rows(release, timeframe, state.closes)
            for position, x in zip(release.positions(timeframe), xs, strict=True):
                out.extend((position, s) for s in self._step(state, release.rows[position], x))
        return out

    def _state(self, timeframe: Timeframe) -> _TimeframeState:
        state = self._states.get(timeframe)
        if state is None:
            state = _TimeframeState(
                self.model_factory(), closes=deque(maxlen=max(self.return_lags, default=1))
            )
            self._states[timeframe] = state
        return state

    def on_candle(self, row: CandleRow, view: MarketView) -> list[Signal]:
        if row.timeframe not in self.timeframes:
            return []
        state = self._state(row.timeframe)
        return self._step(state, row, self.featurize(row, state.closes))

    def _step(
        self, state: _TimeframeState, row: CandleRow, x: dict[str, float] | None
    ) -> list[Signal]:
        """One close: learn the label that closed, predict this candle from ``x``, queue it."""
        # 1. the label of the candle `horizon` closes ago is known now: score, then learn
        if len(state.pending) == self.horizon:
            old = state.pending.popleft()
            went_up = row.close > old.close
            if old.x is not None:
                if old.predicted_up is not None:
                    state.accuracy.update(went_up, old.predicted_up)
                    state.scored += 1
                state.model.learn_one(old.x, went_up)
                state.learned += 1
        # 2. predict from what is known at this close
        state.closes.append(row.close)
        p_up = self._p_up(state.model, x) if x is not None and state.learned > 0 else None
        predicted_up = None if p_up is None else p_up > 0.5
        # 3. wait for this candle's own label
        state.pending.append(_Pending(row.close_ns, row.close, x, predicted_up))
        if p_up is None or state.learned < self.warmup:
            return []
        sign, confidence = probability_to_confidence(p_up)
        if sign == 0 or confidence < self.min_confidence:
            return []
        meta = {
            "p_up": p_up,
            "horizon": self.horizon,
            "pv_accuracy": float(state.accuracy.get()),
            "learned": state.learned,
        }
        direction = Direction.LONG if sign > 0 else Direction.SHORT
        return [build_signal(self.origin, row, direction, confidence, self.horizon, meta)]

    @staticmethod
    def _p_up(model: Any, x: dict[str, float]) -> float | None:
        proba = model.predict_proba_one(x)
        if not proba:
            return None
        p_up = float(proba.get(True, 0.0))
        return min(1.0, max(0.0, p_up)) if math.isfinite(p_up) else None
