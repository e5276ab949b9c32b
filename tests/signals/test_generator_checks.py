"""One check suite for every signal generator the shipped configuration builds.

Each generator (every enabled playbook, the three statistical generators, the online learner)
runs alone over the real BTC month, fed the way the engine feeds it: every candle closing at an
instant is pushed into the view first, then handed to the generator shortest timeframe first.
Every generator faces the same checks, as the indicators do (tests/indicators/test_resume.py):

* pickle-resume equality — pickle the generator and its view mid-month, restore, continue:
  exactly the signals of an uninterrupted run (what Bytewax recovery does with the state);
* determinism — two fresh runs give the same signals, ids included;
* no look-ahead — rewriting every candle after an instant (prices and indicators) changes no
  signal stamped at or before it, and each signal is stamped at the close of its candle;
* batch equals row by row — fed whole releases at once (``on_rows``, as the engine feeds it
  when many candles are final together), with a pickle-resume between two releases, a
  generator gives exactly the signals (values to the last bit) of the row-by-row run.

A new generator joins the suite by being built by ``SignalsConfig.build_generators``.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from itertools import groupby

import pytest

from operators.signals.base import SignalGenerator
from operators.signals.config import SignalsConfig
from operators.signals.market_view import CandleRow, MarketView, rows_of
from operators.signals.operators import build_engine
from operators.signals.release import Release
from schemas.batches import FeatureBatch
from schemas.common import Timeframe, datetime_to_ns
from schemas.signals import Signal

Instants = list[list[CandleRow]]

CONFIG = SignalsConfig()
ORIGINS = [generator.origin for generator in CONFIG.build_generators()]


def instants_of(month: dict[Timeframe, FeatureBatch]) -> Instants:
    """The month's rows grouped by close time, each group shortest timeframe first."""
    rows = [row for batch in month.values() for row in rows_of(batch)]
    rows.sort(key=lambda r: (r.close_ns, r.timeframe.seconds))
    return [list(group) for _, group in groupby(rows, key=lambda r: r.close_ns)]


def fresh(origin: str) -> tuple[SignalGenerator, MarketView]:
    (generator,) = [g for g in CONFIG.build_generators() if g.origin == origin]
    history = getattr(generator, "history_depth", lambda: 1)()
    return generator, MarketView(history=max(history, 1))


def feed(generator: SignalGenerator, view: MarketView, instants: Instants) -> list[Signal]:
    out: list[Signal] = []
    for rows in instants:
        for row in rows:
            view.push(row)
        for row in rows:
            signals = generator.on_candle(row, view)
            assert all(datetime_to_ns(s.timestamp) == row.close_ns for s in signals)
            out.extend(signals)
    return out


def dumped(signals: list[Signal]) -> list[str]:
    return [s.model_dump_json() for s in signals]  # NaN-safe, field-by-field equality


def perturbed(rows: list[CandleRow]) -> list[CandleRow]:
    """The same candles with other prices and indicators: a different future."""
    return [
        replace(
            row,
            open=row.open * 1.37,
            high=row.high * 1.41,
            low=row.low * 0.63,
            close=row.close * (0.71 if i % 2 else 1.29),
            features={name: value * -3.0 + 17.0 for name, value in row.features.items()},
        )
        for i, row in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def instants(month_features: dict[Timeframe, FeatureBatch]) -> Instants:
    return instants_of(month_features)


@pytest.fixture(scope="module")
def whole_runs(instants: Instants) -> dict[str, list[str]]:
    runs = {}
    for origin in ORIGINS:
        generator, view = fresh(origin)
        runs[origin] = dumped(feed(generator, view, instants))
    return runs


def test_the_suite_covers_every_kind_of_generator() -> None:
    kinds = {origin.split(":")[0] for origin in ORIGINS}
    assert kinds == {"rules", "stat", "ml"}
    assert len(ORIGINS) == len(set(ORIGINS)) >= 10


@pytest.mark.parametrize("origin", ORIGINS)
def test_every_generator_speaks_on_the_month(whole_runs: dict[str, list[str]], origin: str):
    assert whole_runs[origin], f"{origin} never fired: the checks below would prove nothing"


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("split", [97, 1_800])
def test_pickle_resume_gives_the_signals_of_one_run(
    instants: Instants, whole_runs: dict[str, list[str]], origin: str, split: int
) -> None:
    generator, view = fresh(origin)
    head = feed(generator, view, instants[:split])
    generator, view = pickle.loads(pickle.dumps((generator, view)))
    tail = feed(generator, view, instants[split:])
    assert dumped(head + tail) == whole_runs[origin]


@pytest.mark.parametrize("origin", ORIGINS)
def test_two_fresh_runs_agree(
    instants: Instants, whole_runs: dict[str, list[str]], origin: str
) -> None:
    generator, view = fresh(origin)
    assert dumped(feed(generator, view, instants)) == whole_runs[origin]


@pytest.mark.parametrize("origin", ORIGINS)
def test_a_different_future_changes_no_past_signal(
    instants: Instants, whole_runs: dict[str, list[str]], origin: str
) -> None:
    cut = len(instants) // 2
    future = [perturbed(rows) for rows in instants[cut:]]
    generator, view = fresh(origin)
    signals = feed(generator, view, instants[:cut] + future)
    cut_ns = instants[cut - 1][0].close_ns
    past = [s for s in signals if datetime_to_ns(s.timestamp) <= cut_ns]
    assert dumped(past) == whole_runs[origin][: len(past)]
    assert dumped(signals[len(past) :]) != whole_runs[origin][len(past) :]  # the future did move


def feed_releases(
    generator: SignalGenerator, view: MarketView, instants: Instants, sizes: list[int]
) -> list[Signal]:
    """Release after release of ``sizes[i % len(sizes)]`` instants each, read at once."""
    out: list[Signal] = []
    start, turn = 0, 0
    while start < len(instants):
        chunk = instants[start : start + sizes[turn % len(sizes)]]
        rows = [row for group in chunk for row in group]
        tagged = generator.on_rows(Release(rows, view))  # type: ignore[attr-defined]
        out.extend(signal for _, signal in sorted(tagged, key=lambda item: item[0]))
        for row in rows:
            view.push(row)
        start, turn = start + len(chunk), turn + 1
    return out


@pytest.mark.parametrize("origin", ORIGINS)
def test_whole_releases_give_the_signals_of_the_row_by_row_run(
    instants: Instants, whole_runs: dict[str, list[str]], origin: str
) -> None:
    sizes = [1, 2, 7, 40, 333, 3, 1_000]
    generator, view = fresh(origin)
    head = feed_releases(generator, view, instants[:1_500], sizes)
    generator, view = pickle.loads(pickle.dumps((generator, view)))
    tail = feed_releases(generator, view, instants[1_500:], sizes[::-1])
    assert dumped(head + tail) == whole_runs[origin]


def test_the_engine_state_after_the_month_stays_small(month_replay_batches) -> None:
    """One shared price ring instead of a window of rows per generator (49 KB became ~23 KB),
    each rule's playbook pickled as compact text, not a model and a tree (~17 KB), then named
    by its digest, the view's rows as tuples and the river models compressed (~10 KB)."""
    engine = build_engine(CONFIG)
    for batch in month_replay_batches:
        engine.push(batch)
    assert engine.counts["rows_processed"] > 3_000
    assert len(pickle.dumps(engine)) < 11_000
