"""The river learner: no look-ahead (proved by a spy model), delayed labels, restart, accuracy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from river import metrics

from operators.signals.market_view import MarketView, rows_of
from operators.signals.online import OnlineDirectionLearner, hoeffding_tree_model, logistic_model
from schemas.batches import FeatureBatch
from schemas.common import Timeframe

TF = Timeframe.M15
FEATURES = ["rsi_14", "macd_hist", "ema_20", "ema_50", "bb_upper", "bb_lower", "atr_14"]


class Clock:
    """What the test knows: the close time of the candle being processed right now."""

    now_ns = -1


class SpyModel:
    """Wraps a river model and checks every call against the clock and the true labels."""

    def __init__(self, close_ns: np.ndarray, truth: dict[int, bool], horizon: int) -> None:
        self.inner = logistic_model()
        self.close_ns = close_ns
        self.truth = truth
        self.horizon = horizon
        self.predictions: list[int] = []
        self.lessons: list[int] = []

    def predict_proba_one(self, x):
        index = int(x["probe_index"])
        assert self.close_ns[index] <= Clock.now_ns, "predicted from a candle not closed yet"
        assert self.close_ns[index] == Clock.now_ns  # the candle that just closed
        self.predictions.append(index)
        return self.inner.predict_proba_one(x)

    def learn_one(self, x, y):
        index = int(x["probe_index"])
        label_known_at = self.close_ns[index + self.horizon]
        assert label_known_at <= Clock.now_ns, "learned a label before its candle closed"
        assert label_known_at == Clock.now_ns  # and as soon as it is known
        assert y == self.truth[index]
        self.lessons.append(index)
        self.inner.learn_one(x, y)


@pytest.fixture(scope="module")
def rows(month_features):
    batch = month_features[TF]
    columns = dict(batch.columns)
    columns["probe_index"] = np.arange(len(batch), dtype=np.float64)
    return rows_of(FeatureBatch(batch.candles, columns))


def test_model_never_sees_a_future_candle(rows):
    horizon = 4
    closes = np.array([r.close for r in rows])
    close_ns = np.array([r.close_ns for r in rows])
    truth = {i: bool(closes[i + horizon] > closes[i]) for i in range(len(rows) - horizon)}
    spy = SpyModel(close_ns, truth, horizon)
    learner = OnlineDirectionLearner(
        [*FEATURES, "probe_index"], horizon, [TF], warmup=50, model_factory=lambda: spy
    )
    view, signals = MarketView(), []
    for row in rows:
        Clock.now_ns = row.close_ns
        view.push(row)
        signals += learner.on_candle(row, view)
    warm = [i for i, r in enumerate(rows) if not any(np.isnan(list(r.features.values())))]
    first = max(warm[0], 4)  # features (ema_50, macd) and the 4-candle return must exist
    assert spy.lessons == list(range(first, len(rows) - horizon))
    assert spy.predictions[0] == first + horizon  # nothing to predict with before one lesson
    assert learner.learned(TF) == len(spy.lessons)
    for signal in signals:  # every signal is stamped at the close it was computed on
        assert signal.meta["horizon"] == horizon
        assert (signal.expires_at - signal.timestamp).total_seconds() == horizon * TF.seconds


def test_progressive_accuracy_is_scored_on_predictions_made_before_the_label(rows):
    horizon = 2
    learner = OnlineDirectionLearner(FEATURES, horizon, [TF], warmup=1, min_confidence=0.0)
    view, predictions = MarketView(), {}
    for i, row in enumerate(rows[:600]):
        view.push(row)
        (signal,) = learner.on_candle(row, view) or [None]
        if signal is not None:
            predictions[i] = signal.direction.value == "long"
    closes = [r.close for r in rows]
    accuracy = metrics.Accuracy()
    for i, predicted_up in predictions.items():
        if i + horizon < 600:
            accuracy.update(closes[i + horizon] > closes[i], predicted_up)
    assert learner.accuracy(TF) == pytest.approx(accuracy.get())
    assert learner.scored(TF) == sum(1 for i in predictions if i + horizon < 600)


@pytest.mark.parametrize("factory", [logistic_model, hoeffding_tree_model])
def test_restored_learner_predicts_exactly_the_same(rows, factory):
    def fresh():
        return OnlineDirectionLearner(FEATURES, 4, [TF], warmup=100, model_factory=factory)

    def feed(learner, part):
        view, out = MarketView(), []
        for row in part:
            view.push(row)
            out += learner.on_candle(row, view)
        return out

    whole = feed(fresh(), rows)
    half = fresh()
    head = feed(half, rows[:1500])
    restored = pickle.loads(pickle.dumps(half))
    assert head + feed(restored, rows[1500:]) == whole
    assert len(whole) > 100


def test_no_signal_before_warmup_and_below_min_confidence(rows):
    learner = OnlineDirectionLearner(FEATURES, 4, [TF], warmup=400, min_confidence=0.15)
    view, signals = MarketView(), []
    for row in rows:
        view.push(row)
        signals += learner.on_candle(row, view)
    assert all(s.meta["learned"] >= 400 for s in signals)
    assert all(s.confidence >= 0.15 for s in signals)
    assert all(s.confidence == pytest.approx(abs(2 * s.meta["p_up"] - 1)) for s in signals)
