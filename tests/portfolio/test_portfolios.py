"""Several portfolios: configuration, routing through the keyed trading core, stores."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from connectors.store.engine import StoreSchemaError, open_store
from flows.config import ConfigError, load_config
from operators.execution.operator import trading_core
from operators.execution.records import ManualAction, ManualActionResult, TradingSummary
from operators.portfolio.book import EquityPoint
from schemas.batches import CandleBatch
from schemas.common import ns_to_datetime
from schemas.signals import FusedSignal
from schemas.trading import RiskDecision

T0 = 1_641_000_000_000_000_000 // 60_000_000_000 * 60_000_000_000
MINUTE = 60_000_000_000
TWO = {
    "portfolios": [
        {"id": "x-only", "assets": ["X/USDT"], "initial_cash": "1000"},
        {"id": "x-and-y", "assets": ["X/USDT", "Y/USDT"], "risk": {"max_open_positions": 2}},
    ]
}


def _bars(symbol: str) -> CandleBatch:
    minutes = T0 + MINUTE * np.arange(5)
    return CandleBatch.from_columns(
        symbol, "1m", minutes, [100.0] * 5, [101.0] * 5, [99.0] * 5, [100.0] * 5, [1e6] * 5
    )


def _signal(asset: str) -> FusedSignal:
    return FusedSignal(
        fused_id=f"fs-{asset}",
        asset=asset,
        score=0.8,
        direction="long",
        decision="open",
        timestamp=ns_to_datetime(T0 + 2 * MINUTE),
    )


def _run(items: list, config_overrides: dict) -> list:
    config = load_config(overrides=config_overrides)
    flow = Dataflow("portfolios_test")
    out: list = []
    core = trading_core(
        "trading", op.input("in", flow, TestingSource(items)), config.portfolio_set()
    )
    op.output("out", core, TestingSink(out))
    run_main(flow)
    return out


def test_default_is_one_portfolio_from_the_trading_section() -> None:
    config = load_config()
    [only] = config.portfolio_set().portfolios
    assert only.id == "default" and only.config == config.trading


def test_portfolios_get_their_assets_capital_and_risk() -> None:
    majors, both = load_config(overrides=TWO).portfolio_set().portfolios
    assert (majors.id, majors.config.assets, str(majors.config.portfolio.initial_cash)) == (
        "x-only",
        ("X/USDT",),
        "1000",
    )
    assert both.config.risk.max_open_positions == 2
    assert both.config.portfolio.initial_cash == load_config().trading.portfolio.initial_cash


@pytest.mark.parametrize(
    ("portfolios", "message"),
    [
        ([{"id": "a"}, {"id": "a"}], "duplicate id 'a'"),
        ([{"id": "a", "risk": {"max_open_positions": 0}}], "portfolio 'a': risk override"),
        ([{"id": "a", "risk": {"no_such_limit": 1}}], "no_such_limit"),
        ([{"id": "bad id"}], "portfolios.0.id"),
    ],
)
def test_bad_portfolios_stop_start_up_naming_the_problem(portfolios: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides={"portfolios": portfolios})


def test_each_asset_goes_to_the_portfolios_trading_it_and_signals_out_once() -> None:
    items = [_bars("X/USDT"), _bars("Y/USDT"), _signal("X/USDT"), _signal("Y/USDT")]
    items.append(_signal("Z/USDT"))  # nobody trades Z: passed on, never acted upon
    out = _run(items, TWO)
    fused = Counter(e.asset for e in out if isinstance(e, FusedSignal))
    assert fused == {"X/USDT": 1, "Y/USDT": 1, "Z/USDT": 1}
    decisions = sorted(
        (d.portfolio, d.asset, d.intent_id) for d in out if isinstance(d, RiskDecision)
    )
    assert decisions == [
        ("x-and-y", "X/USDT", "x-and-y:fs-X/USDT:entry"),
        ("x-and-y", "Y/USDT", "x-and-y:fs-Y/USDT:entry"),
        ("x-only", "X/USDT", "x-only:fs-X/USDT:entry"),
    ]
    equity = {(p.portfolio, str(p.cash)) for p in out if isinstance(p, EquityPoint)}
    assert equity == {("x-only", "1000"), ("x-and-y", "100000")}
    summaries = {s.portfolio: s.counters for s in out if isinstance(s, TradingSummary)}
    # the fused decisions are counted once over the portfolios (the run's bands add up)
    assert summaries["x-only"].get("fused_open", 0) + summaries["x-and-y"]["fused_open"] == 3


def test_manual_actions_reach_one_portfolio_or_every_one() -> None:
    when = datetime.fromtimestamp(T0 // 10**9 + 60, UTC)

    def halt(action_id: str, portfolio: str | None) -> ManualAction:
        return ManualAction(
            action_id=action_id,
            kind="set_trading_state",
            actor="ops",
            ts=when,
            state="halted",
            portfolio=portfolio,
        )

    items = [_bars("X/USDT"), halt("all", None), halt("one", "x-only"), halt("nobody", "zz")]
    results = [e for e in _run(items, TWO) if isinstance(e, ManualActionResult)]
    seen = sorted((r.action.action_id, r.portfolio, r.applied) for r in results)
    assert seen == [
        ("all", "x-and-y", True),
        ("all", "x-only", True),
        ("nobody", "x-only", False),
        ("one", "x-only", True),
    ]


def test_a_store_without_portfolio_columns_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # the fills table as an older Quorum created it
        conn.execute(
            "CREATE TABLE fills (run_id VARCHAR(64), fill_id VARCHAR(160),"
            " PRIMARY KEY (run_id, fill_id))"
        )
    with pytest.raises(StoreSchemaError, match=r"older Quorum.*\(fills\).*new store"):
        open_store(path)
