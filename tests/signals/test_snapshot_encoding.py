"""How the signal engine's parts pickle for Bytewax's snapshots: compact, and a restored part
continues exactly as the one it was taken from (the check suite proves it on the month for
every generator; these tests pin the encodings themselves)."""

from __future__ import annotations

import copy
import pickle

import pytest

from operators.signals import rules
from operators.signals.config import SignalsConfig
from operators.signals.market_view import CandleRow, MarketView, PriceRing
from operators.signals.online import OnlineDirectionLearner
from operators.signals.playbook_loader import parse_playbook_text
from operators.signals.rules import PlaybookRule
from schemas.common import Timeframe

H1 = Timeframe.H1
DIP = "name: dip\ndirection: long\ntimeframe: 1h\nwhen: rsi_14 < 30\nconfidence: 0.5"


def row(i: int, close: float, **features: float) -> CandleRow:
    return CandleRow("X/Y", H1, i * H1.ns, close, close + 1, close - 1, close, 1.0, features)


def test_a_rule_names_its_playbook_by_digest_not_text() -> None:
    (playbook,) = parse_playbook_text(DIP)
    rule = PlaybookRule(playbook)
    state = rule.__getstate__()
    assert set(state) == {"playbook_ref", "was_true", "applies", "sequences"}
    restored = pickle.loads(pickle.dumps(rule))
    assert restored.playbook == rule.playbook
    assert len(pickle.dumps(rule)) < 200


def test_a_snapshot_naming_an_unknown_playbook_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    (playbook,) = parse_playbook_text(DIP)
    snapshot = pickle.dumps(PlaybookRule(playbook))
    monkeypatch.setattr(rules, "_PLAYBOOK_TEXTS", {})  # a process that never built it
    with pytest.raises(LookupError, match="restore with the configuration it was taken with"):
        pickle.loads(snapshot)


def test_a_rule_restores_from_the_earlier_text_form() -> None:
    (playbook,) = parse_playbook_text(DIP)
    rule = PlaybookRule(playbook)
    state = rule.__getstate__()
    text = rules.playbook_text(state.pop("playbook_ref"))
    earlier = PlaybookRule.__new__(PlaybookRule)
    earlier.__setstate__({**state, "playbook": text})
    assert earlier.playbook == rule.playbook


def test_every_configured_playbook_is_known_once_the_configuration_is_built() -> None:
    config = SignalsConfig()
    config.required_features()  # what loading the configuration does at start-up
    for playbook in config.playbooks():
        text = playbook.model_dump_json(by_alias=True, exclude_defaults=True)
        assert rules.playbook_text(rules.playbook_ref(text)) == text


def test_the_view_restores_its_rows_and_rings() -> None:
    view = MarketView(depth=3, history=8)
    for i in range(11):
        view.push(row(i, 100.0 + i, rsi_14=40.0 + i, atr_14=2.5))
    restored = pickle.loads(pickle.dumps(view))
    assert restored.held(H1) == view.held(H1)
    assert restored.held(H1)[-1].features == {"rsi_14": 50.0, "atr_14": 2.5}
    for column in ("high", "low", "close"):
        assert (
            restored.prices(H1, 8).last(column, 8).tolist()
            == view.prices(H1, 8).last(column, 8).tolist()
        )
    restored.push(row(11, 50.0))
    view.push(row(11, 50.0))
    assert restored.held(H1) == view.held(H1)
    assert restored.ring(H1).last("close", 8).tolist() == view.ring(H1).last("close", 8).tolist()


def test_the_view_restores_from_the_earlier_form() -> None:
    view = MarketView()
    view.push(row(0, 100.0, rsi_14=40.0))
    earlier = MarketView.__new__(MarketView)
    earlier.__setstate__(copy.copy(view.__dict__))
    assert earlier.held(H1) == view.held(H1)


def test_a_ring_restores_from_its_block_and_from_the_earlier_arrays() -> None:
    ring = PriceRing(4)
    for price in (1.0, 2.0, 3.0, 4.0, 5.0):
        ring.push(price + 0.5, price - 0.5, price)
    restored = pickle.loads(pickle.dumps(ring))
    earlier = PriceRing.__new__(PriceRing)
    earlier.__setstate__((ring.capacity, ring.count, ring.high, ring.low, ring.close))
    for copy_ in (restored, earlier):
        copy_.push(9.5, 8.5, 9.0)
        assert copy_.last("close", 4).tolist() == [3.0, 4.0, 5.0, 9.0]
        assert copy_.last("high", 2).tolist() == [5.5, 9.5]


def test_the_learner_resumes_from_its_compressed_snapshot_and_from_a_deep_copy() -> None:
    def learner() -> OnlineDirectionLearner:
        return OnlineDirectionLearner(["rsi_14"], 2, [H1], warmup=3, min_confidence=0.0)

    def run(gen: OnlineDirectionLearner, view: MarketView, start: int, stop: int) -> list:
        out = []
        for i in range(start, stop):
            close = 100.0 + (i % 4)
            candle = row(i, close, rsi_14=40.0 + 10 * (i % 4))
            view.push(candle)
            out += [(s.direction, s.confidence) for s in gen.on_candle(candle, view)]
        return out

    uninterrupted = learner()
    whole = run(uninterrupted, MarketView(), 0, 60)
    first, view = learner(), MarketView()
    head = run(first, view, 0, 25)
    assert isinstance(first.__getstate__()["_states"], bytes)
    for resumed, resumed_view in (
        pickle.loads(pickle.dumps((first, view))),
        copy.deepcopy((first, view)),
    ):
        assert head + run(resumed, resumed_view, 25, 60) == whole
        assert resumed.learned(H1) == uninterrupted.learned(H1) > 0
        assert resumed.accuracy(H1) == uninterrupted.accuracy(H1)
