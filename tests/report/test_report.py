"""The run report: every figure checked by hand on a small case, JSON, rendering, the plot."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from flows.report import RunReport, build_report, plot_equity, render_report
from operators.execution.engine import TradingEngine
from operators.execution.trading_config import TradingConfig
from operators.portfolio.book import EquityPoint
from schemas.batches import CandleBatch
from schemas.common import NS_PER_MINUTE, Side, ns_to_datetime
from schemas.signals import FusedSignal
from schemas.trading import Fill, Order, OrderIntent, OrderStatus, RiskDecision

D = Decimal
T0 = datetime(2022, 1, 1, tzinfo=UTC)


def point(hour: int, equity: str, gross: str = "0", exposure: dict | None = None) -> EquityPoint:
    return EquityPoint(
        ts=T0 + timedelta(hours=hour),
        equity=D(equity),
        cash=D(equity),
        realized_pnl=D(0),
        unrealized_pnl=D(0),
        fees_paid=D(0),
        gross_exposure=D(gross),
        net_exposure=D(gross),
        exposure=exposure or {},
        open_positions=1 if exposure else 0,
        drawdown_pct=0.0,
    )


def fill(i: int, order: str, side: Side, qty: str, price: str, fee: str, mid: str) -> Fill:
    return Fill(
        fill_id=f"f{i}",
        order_id=order,
        asset="A/B",
        side=side,
        quantity=D(qty),
        price=D(price),
        fee=D(fee),
        mid_price=D(mid),
        ts=T0 + timedelta(minutes=10 * i),
    )


def order(order_id: str, intent_id: str, side: Side, qty: str) -> Order:
    return Order(
        order_id=order_id,
        intent_id=intent_id,
        asset="A/B",
        side=side,
        quantity=D(qty),
        filled_quantity=D(qty),
        status=OrderStatus.FILLED,
        created_at=T0,
        updated_at=T0,
    )


def intent(intent_id: str, side: Side, qty: str, fused: str | None) -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id,
        asset="A/B",
        side=side,
        quantity=D(qty),
        reference_price=D(100),
        fused_id=fused,
        reduce_only=fused is None,
        timestamp=T0,
    )


def fused(k: int, decision: str) -> FusedSignal:
    return FusedSignal(
        fused_id=f"fs-{k}",
        asset="A/B",
        timestamp=T0,
        score=0.8,
        direction="long",
        decision=decision,
    )


@pytest.fixture
def events() -> list:
    return [
        point(0, "100"),
        point(1, "110", "50", {"A/B": D(50)}),
        point(2, "99", "99", {"A/B": D(-99)}),
        point(3, "104.5"),
        fused(1, "open"),
        fused(2, "open"),
        fused(3, "review"),
        intent("e1", Side.BUY, "1", "fs-1"),
        intent("x1", Side.SELL, "1", None),
        intent("e2", Side.SELL, "2", "fs-2"),
        intent("x2", Side.BUY, "2", None),
        order("o1", "e1", Side.BUY, "1"),
        order("o2", "x1", Side.SELL, "1"),
        order("o3", "e2", Side.SELL, "2"),
        order("o4", "x2", Side.BUY, "2"),
        fill(1, "o1", Side.BUY, "1", "100", "0.1", "99.9"),
        fill(2, "o2", Side.SELL, "1", "110", "0.11", "110.1"),
        fill(3, "o3", Side.SELL, "2", "50", "0.1", "50.05"),
        fill(4, "o4", Side.BUY, "2", "55", "0.11", "54.95"),
    ]


def test_figures_by_hand(events: list) -> None:
    r = build_report(
        events, initial_cash=D(100), equity_interval_seconds=3600, dead_lettered=3, late=2
    )
    assert (r.trades, r.open_trades, r.wins, r.losses, r.hit_rate) == (2, 0, 1, 1, 0.5)
    assert r.realized_pnl == D(0)  # +10 and -10 gross
    assert r.fees_paid == D("0.42")
    assert r.avg_pnl_per_trade == D("-0.21")  # (9.79 - 10.21) / 2
    assert (r.best_trade, r.worst_trade) == (D("9.79"), D("-10.21"))
    assert r.avg_pnl_per_signal == D("-0.21") and r.signals_traded == 2
    assert r.profit_factor == pytest.approx(9.79 / 10.21)
    assert r.turnover == D(420)
    assert r.slippage_cost == D("0.4")  # 0.1 on each fill, whatever the side
    assert r.avg_slippage_bps == pytest.approx(0.4 / 420 * 10_000)
    assert r.net_pnl == D("4.5") and r.total_return_pct == pytest.approx(4.5)
    assert r.max_drawdown_pct == pytest.approx(10.0)
    returns = [0.1, 99 / 110 - 1, 104.5 / 99 - 1]
    mean = sum(returns) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in returns) / 2)
    assert r.periods_per_year == 8760.0
    assert r.sharpe == pytest.approx(mean / std * math.sqrt(8760))
    downside = math.sqrt((99 / 110 - 1) ** 2 / 3)
    assert r.sortino == pytest.approx(mean / downside * math.sqrt(8760))
    assert r.average_exposure_pct == pytest.approx((0 + 50 / 110 * 100 + 100 + 0) / 4)
    assert r.max_exposure_pct == pytest.approx(100.0)
    assert r.time_in_market_pct == 50.0
    assert r.exposure_by_asset["A/B"].time_in_market_pct == 50.0
    assert r.decisions_by_band == {"open": 2, "review": 1}
    assert r.orders_by_status == {"filled": 4} and r.fills == 4
    assert (r.dead_lettered, r.late) == (3, 2)
    assert (r.start, r.end) == (T0, T0 + timedelta(hours=3))


def test_json_round_trip_keeps_exact_money(events: list) -> None:
    r = build_report(
        events,
        initial_cash=D(100),
        equity_interval_seconds=3600,
        decisions_by_band={"open": 9},
        counters={"late_signals": 1},
    )
    data = json.loads(r.model_dump_json())
    assert data["fees_paid"] == "0.42" and data["decisions_by_band"] == {"open": 9}
    assert data["definitions"]["sharpe"].startswith("mean / std")
    assert RunReport.model_validate_json(r.model_dump_json()) == r


def test_a_report_without_trades_or_points() -> None:
    r = build_report([], initial_cash=D(1000), equity_interval_seconds=900)
    assert (r.trades, r.hit_rate, r.sharpe, r.sortino, r.max_drawdown_pct) == (
        0,
        None,
        None,
        None,
        0.0,
    )
    assert r.final_equity == D(1000) and r.periods_per_year == 35040.0


def test_render_shows_the_key_figures(events: list) -> None:
    r = build_report(events, initial_cash=D(100), equity_interval_seconds=3600)
    console = Console(record=True, width=120)
    render_report(r, console)
    text = console.export_text()
    for words in (
        "hit rate",
        "50.00%",
        "max drawdown",
        "10.00%",
        "fees paid",
        "Sharpe",
        "open 2, review 1",
        "dead-lettered / late",
    ):
        assert words in text


def test_report_matches_the_core_on_a_real_run() -> None:
    closes = [100.0 + (i % 9) - 4 for i in range(180)]
    market = CandleBatch.from_columns(
        "A/B",
        "1m",
        [int(T0.timestamp()) * 10**9 + i * NS_PER_MINUTE for i in range(180)],
        closes,
        [c + 1 for c in closes],
        [c - 1 for c in closes],
        closes,
        [1e6] * 180,
    )
    sigs = [
        FusedSignal(
            fused_id=f"s{k}",
            asset="A/B",
            score=0.9,
            direction="long",
            decision="open",
            timestamp=ns_to_datetime(int(T0.timestamp()) * 10**9 + k * NS_PER_MINUTE),
        )
        for k in range(5, 175, 20)
    ]
    core = TradingEngine(TradingConfig(portfolio={"equity_interval_seconds": 900}), atr={"A/B": 1})
    events = core.process([market, *sigs]) + core.flush()
    r = build_report(
        events, initial_cash=D(100_000), equity_interval_seconds=900, counters=core.summary()
    )
    fills = [e for e in events if isinstance(e, Fill)]
    assert r.fees_paid == sum(f.fee for f in fills) and r.fills == len(fills) > 0
    assert r.final_equity == core.book.equity().quantize(D("0.00000001"))
    decisions = [e for e in events if isinstance(e, RiskDecision)]
    assert sum(r.risk_decisions.values()) == len(decisions)
    assert r.risk_decisions["approved"] == sum(d.approved for d in decisions)
    assert r.trades + r.open_trades >= 1 and r.counters["candles"] == 180


def test_plot_writes_an_image(tmp_path: Path, events: list) -> None:
    curve = [e for e in events if isinstance(e, EquityPoint)]
    fills = [e for e in events if isinstance(e, Fill)]
    target = plot_equity(curve, tmp_path / "plots" / "equity.png", fills=fills)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 5_000
    frame = pl.DataFrame({"ts": [p.ts for p in curve], "equity": [float(p.equity) for p in curve]})
    assert plot_equity(frame, tmp_path / "frame.svg").read_text().startswith("<?xml")
    with pytest.raises(ValueError, match="no equity points"):
        plot_equity([], tmp_path / "empty.png")


def test_the_last_off_grid_point_counts_for_drawdown_but_not_for_returns() -> None:
    curve = [point(0, "100"), point(1, "110"), point(2, "99")]
    last = point(2, "90").model_copy(update={"ts": T0 + timedelta(hours=2, minutes=30)})
    r = build_report([*curve, last], initial_cash=D(100), equity_interval_seconds=3600)
    on_grid = build_report(curve, initial_cash=D(100), equity_interval_seconds=3600)
    assert r.sharpe == on_grid.sharpe and r.sortino == on_grid.sortino
    assert r.max_drawdown_pct == pytest.approx(100 * 20 / 110)
    assert r.final_equity == D(90)
