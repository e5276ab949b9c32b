"""Playbooks: the shipped ones load, bad ones fail naming file, line and field; rule semantics."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from operators.signals.config import DEFAULT_PLAYBOOK_DIR, SignalsConfig
from operators.signals.market_view import CandleRow, MarketView
from operators.signals.playbook_loader import PlaybookError, load_playbooks, parse_playbook_text
from operators.signals.rules import PlaybookRule, _sequences, compile_condition
from schemas.common import Direction, Timeframe

BUILT = (Timeframe.M15, Timeframe.H1, Timeframe.H4)


def test_shipped_playbooks_load_and_include_the_seed():
    playbooks = {pb.name: pb for pb in load_playbooks([DEFAULT_PLAYBOOK_DIR], BUILT)}
    for name in (
        "ema_cross_long",
        "ema_cross_short",
        "rsi_reversal_long",
        "macd_momentum_long",
        "bollinger_breakout_long",
        "bollinger_reversion_short",
        "btc_long",
    ):
        assert name in playbooks
    seed = playbooks["btc_long"]
    assert seed.direction is Direction.LONG and seed.timeframe is Timeframe.M15
    assert seed.gate is not None and seed.gate.fused_score_at_least == 0.75
    assert seed.gate.on == [Timeframe.H1, Timeframe.H4]
    assert seed.features() == {"rsi_5", "rsi_15", "rsi_30", "ema_20", "ema_50"}


def write(tmp_path: Path, text: str, name: str = "pb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """\
name: dip_buy
direction: long
timeframe: 15m
when:
  all:
    - rsi_14 < 30
    - close > ema_50 on 4h
confidence: 0.5
"""


@pytest.mark.parametrize(
    ("replace", "line", "field", "message"),
    [
        ("rsi_14 < 30", 6, "when.all[0].left", "unknown indicator 'rsi_1x4'"),
        ("close > ema_50 on 4h", 7, "when.all[1].on", "not built by this flow"),
        ("confidence: 0.5", 8, "confidence", "valid number"),
        ("direction: long", 2, "direction", "not 'flat'"),
        ("timeframe: 15m", 3, "timeframe", "Input should be"),
        ("name: dip_buy", 1, "colour", "unknown field 'colour'"),
        ("    - rsi_14 < 30", 6, "when.all[0]", "cannot read condition"),
    ],
)
def test_bad_playbook_names_file_line_and_field(tmp_path, replace, line, field, message):
    bad = {
        "rsi_14 < 30": "rsi_1x4 < 30",
        "close > ema_50 on 4h": "close > ema_50 on 1m",
        "confidence: 0.5": "confidence: high",
        "direction: long": "direction: flat",
        "timeframe: 15m": "timeframe: 2h",
        "name: dip_buy": "name: dip_buy\ncolour: red",
        "    - rsi_14 < 30": "    - rsi_14 is low",
    }[replace]
    text = GOOD.replace(replace, bad)
    if replace == "name: dip_buy":
        line = 2
    path = write(tmp_path, text)
    with pytest.raises(PlaybookError) as caught:
        load_playbooks([path], BUILT)
    problem = caught.value.problems[0]
    assert problem.file == str(path)
    assert (problem.line, problem.field) == (line, field)
    assert message in problem.message
    assert f"{path}:{line}:" in str(caught.value)


def test_all_problems_of_all_files_are_reported(tmp_path):
    one = write(tmp_path, GOOD.replace("rsi_14 < 30", "rsi_x < 30"), "a.yaml")
    two = write(tmp_path, "playbooks:\n  - name: b\n    direction: long\n", "b.yaml")
    with pytest.raises(PlaybookError) as caught:
        load_playbooks([tmp_path], BUILT)
    files = {p.file for p in caught.value.problems}
    assert files == {str(one), str(two)}
    missing = {p.field for p in caught.value.problems if p.file == str(two)}
    assert missing == {"playbooks[0]"}  # timeframe, when, confidence missing: located at the item


def test_invalid_yaml_and_duplicates(tmp_path):
    broken = write(tmp_path, "name: [unclosed\n", "broken.yaml")
    with pytest.raises(PlaybookError, match=r"broken.yaml:\d+:\d+: not valid YAML"):
        load_playbooks([broken])
    write(tmp_path / "..", "x", "unused.txt")
    a = write(tmp_path, GOOD, "a.yaml")
    b = write(tmp_path, "playbooks:\n" + _indent(GOOD), "b.yaml")
    with pytest.raises(PlaybookError) as caught:
        load_playbooks([a, b], BUILT)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (str(b), 2, "playbooks[0].name")
    assert "already used" in problem.message


def _indent(text: str) -> str:
    lines = text.splitlines()
    return "\n".join(["  - " + lines[0], *("    " + line for line in lines[1:])]) + "\n"


def test_bad_playbook_stops_config_validation(tmp_path):
    path = write(tmp_path, GOOD.replace("ema_50", "ema_fifty"))
    with pytest.raises(ValueError, match=r"pb.yaml:7:.*when.all\[1\]"):
        SignalsConfig(rules={"paths": [path]})


def test_yaml_12_keeps_on_as_a_string(tmp_path):
    text = GOOD + "gate:\n  fused_score_at_least: 0.75\n  on: [1h, 4h]\n"
    (pb,) = load_playbooks([write(tmp_path, text)], BUILT)
    assert pb.gate is not None and pb.gate.on == [Timeframe.H1, Timeframe.H4]


# --- rule semantics --------------------------------------------------------------------------

H = Timeframe.H1.ns
Q = Timeframe.M15.ns


def rule_of(text: str) -> PlaybookRule:
    (pb,) = parse_playbook_text(text, timeframes=BUILT)
    return PlaybookRule(pb)


def run(rule: PlaybookRule, rows: list[CandleRow]) -> list[list[str]]:
    """Feed rows as the engine does: all candles of an instant in the view, then each in turn."""
    fired: list[list[str]] = []
    view = MarketView()
    ordered = sorted(rows, key=lambda r: (r.close_ns, r.timeframe.seconds))
    for i, row in enumerate(ordered):
        if i == 0 or ordered[i - 1].close_ns != row.close_ns:
            for other in ordered[i:]:
                if other.close_ns != row.close_ns:
                    break
                view.push(other)
        fired.append([s.direction.value for s in rule.on_candle(row, view)])
    return fired


def q(i: int, **features: float) -> CandleRow:
    close = features.pop("close", 100.0)
    return CandleRow("BTC-PERP", Timeframe.M15, i * Q, close, close, close, close, 1.0, features)


def test_cross_needs_both_candles_and_fires_once():
    rule = rule_of(
        "name: x\ndirection: long\ntimeframe: 15m\nwhen: ema_20 crosses_above ema_50\n"
        "confidence: 0.4\n"
    )
    rows = [
        q(0, ema_20=float("nan"), ema_50=10.0),
        q(1, ema_20=11.0, ema_50=10.0),  # previous NaN: no cross
        q(2, ema_20=9.0, ema_50=10.0),
        q(3, ema_20=10.0, ema_50=10.0),  # touching is not crossing
        q(4, ema_20=10.5, ema_50=10.0),  # crossed: was <=, now >
        q(5, ema_20=11.0, ema_50=10.0),
    ]
    assert run(rule, rows) == [[], [], [], [], ["long"], []]


def test_sequence_within_window_then_cross():
    rule = rule_of(
        "name: seq\ndirection: long\ntimeframe: 15m\nwhen:\n  sequence:\n"
        "    - avg(rsi_5, rsi_15, rsi_30) < 40\n    - ema_20 crosses_above ema_50\n"
        "  within: 3\nconfidence: 0.7\n"
    )
    low = {"rsi_5": 30.0, "rsi_15": 40.0, "rsi_30": 45.0}  # average 38.33 < 40
    high = {"rsi_5": 50.0, "rsi_15": 50.0, "rsi_30": 50.0}
    below, above = {"ema_20": 9.0, "ema_50": 10.0}, {"ema_20": 11.0, "ema_50": 10.0}
    rows = [
        q(0, **low, **below),
        q(1, **high, **below),
        q(2, **high, **above),  # RSI dip 2 closes ago, cross now → within 3
        q(3, **high, **below),
        q(4, **low, **below),
        q(5, **high, **below),
        q(6, **high, **below),
        q(7, **high, **above),  # dip 3 closes ago: outside the window of 3
    ]
    assert run(rule, rows) == [[], [], ["long"], [], [], [], [], []]


def test_other_timeframe_reads_latest_closed_candle_only():
    rule = rule_of(
        "name: mtf\ndirection: short\ntimeframe: 15m\ntrigger: level\n"
        "when: rsi_14 > 70 on 1h\nconfidence: 0.3\n"
    )
    rows = [q(i) for i in range(1, 9)]  # 15m closes at 0:30 … 2:15
    hour = [
        CandleRow("BTC-PERP", Timeframe.H1, 0, 1, 1, 1, 1, 1, {"rsi_14": 75.0}),  # closes 1:00
        CandleRow("BTC-PERP", Timeframe.H1, H, 1, 1, 1, 1, 1, {"rsi_14": 60.0}),  # closes 2:00
    ]
    fired = run(rule, rows + hour)
    # order: 15m@0:30, 15m@0:45, 15m@1:00, 1h@1:00, 15m@1:15, … 15m@2:00, 1h@2:00, 15m@2:15
    closes = sorted(rows + hour, key=lambda r: (r.close_ns, r.timeframe.seconds))
    short_at = [r.close_ns // Q for r, f in zip(closes, fired, strict=True) if f]
    # 1:00, 1:15, 1:30, 1:45 read the 1h RSI of 75 (the 1:00 one counts: it closed at that
    # instant); 2:00 already reads the 1h candle closing at 2:00 (RSI 60); 0:30/0:45 have none
    assert short_at == [4, 5, 6, 7]


def test_derived_confidence_gate_meta_and_assets():
    rule = rule_of(
        "name: d\ndirection: long\ntimeframe: 15m\nassets: ['ETH*']\nwhen: rsi_14 < 30\n"
        "confidence: {base: 0.4, max: 0.8, by: rsi_14, from: 30, to: 10}\n"
        "gate: {fused_score_at_least: 0.6, on: [4h]}\n"
    )
    view = MarketView()
    btc = q(1, rsi_14=20.0)
    view.push(btc)
    assert rule.on_candle(btc, view) == []  # BTC does not match ETH*
    eth = CandleRow("ETH-PERP", Timeframe.M15, Q, 1, 1, 1, 1, 1, {"rsi_14": 20.0})
    (sig,) = rule.on_candle(eth, view)
    assert sig.confidence == pytest.approx(0.6)  # halfway from 30 to 10
    assert sig.meta["gate"] == {"min_score": 0.6, "timeframes": ["4h"]}
    assert sig.meta["values"] == {"rsi_14@15m": 20.0}
    assert sig.origin == "rules:d" and sig.timestamp.minute == 30  # stamped at the close


def test_a_rule_pickles_its_playbook_as_text_and_restores_the_same_rule():
    playbooks = SignalsConfig().playbooks()
    seed = next(pb for pb in playbooks if pb.name == "btc_long")  # a sequence keeps history
    rule = PlaybookRule(seed)
    view = MarketView()
    for i, (rsi, fast, slow) in enumerate([(30.0, 1.0, 2.0), (35.0, 1.5, 2.0), (45.0, 2.5, 2.0)]):
        row = CandleRow(
            "BTC/USDT",
            Timeframe.M15,
            i * Timeframe.M15.ns,
            1,
            1,
            1,
            1,
            1,
            {"rsi_5": rsi, "rsi_15": rsi, "rsi_30": rsi, "ema_20": fast, "ema_50": slow},
        )
        view.push(row)
        rule.on_candle(row, view)
    restored = pickle.loads(pickle.dumps(rule))
    assert restored.playbook == seed and restored.was_true == rule.was_true
    assert restored.root.history == rule.root.history and len(rule.root.history) == 3
    assert len(pickle.dumps(rule)) < 2 * len(seed.model_dump_json())  # no model, no tree
    for playbook in playbooks:  # every shipped playbook survives the text round trip
        assert pickle.loads(pickle.dumps(PlaybookRule(playbook))).playbook == playbook
    twins = pickle.loads(pickle.dumps([PlaybookRule(seed), PlaybookRule(seed)]))
    assert twins[0].playbook is twins[1].playbook  # one model for every symbol's rule


def test_a_snapshot_of_the_earlier_rule_form_still_restores():
    (playbook,) = [pb for pb in SignalsConfig().playbooks() if pb.name == "btc_long"]
    root = compile_condition(playbook.when, playbook.timeframe)
    (sequence,) = _sequences(root)
    sequence.history.extend([(True, False), (False, True)])
    earlier = {  # before the compact form: the rule's attributes as they were
        "playbook": playbook,
        "origin": playbook.origin,
        "root": root,
        "was_true": True,
        "_applies": {"BTC/USDT": True},
    }
    restored = PlaybookRule.__new__(PlaybookRule)
    restored.__setstate__(earlier)
    assert restored.was_true and restored.playbook == playbook
    assert list(restored.root.history) == [(True, False), (False, True)]
    assert restored.applies_to("BTC/USDT")
    assert pickle.loads(pickle.dumps(restored)).playbook == playbook
    again = PlaybookRule.__new__(PlaybookRule)
    again.__setstate__({**earlier, "playbook": playbook.model_copy()})
    assert again.playbook is restored.playbook  # one model for every symbol's rule


def test_rules_share_what_holds_nothing_per_symbol():
    """Every symbol's rule of a playbook without a sequence uses one compiled tree; a rule
    with a sequence compiles its own (the sequence's history is the symbol's)."""
    playbooks = SignalsConfig().playbooks()
    for playbook in playbooks:
        first, second = PlaybookRule(playbook), PlaybookRule(playbook)
        assert first.origin is second.origin
        if _sequences(first.root):
            assert first.root is not second.root
            assert all(
                a.history is not b.history
                for a, b in zip(_sequences(first.root), _sequences(second.root), strict=True)
            )
        else:
            assert first.root is second.root
    assert any(_sequences(PlaybookRule(pb).root) for pb in playbooks)
    assert any(not _sequences(PlaybookRule(pb).root) for pb in playbooks)


def test_a_rule_answers_for_each_symbol_it_is_asked_about():
    (playbook,) = parse_playbook_text(
        "name: alts\ndirection: long\ntimeframe: 1h\nassets: ['*/USDT']\nwhen: rsi_14 < 30"
        "\nconfidence: 0.5"
    )
    rule = PlaybookRule(playbook)
    answers = [rule.applies_to(s) for s in ["ETH/USDT", "ETH/BTC", "ETH/USDT", "ETH/BTC"]]
    assert answers == [True, False, True, False]
    restored = pickle.loads(pickle.dumps(rule))
    assert restored.applies_to("ETH/BTC") is False and restored.applies_to("XRP/USDT")
