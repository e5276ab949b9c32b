"""The run report: what the trading core did with the signals, and how it went.

:func:`build_report` turns the trading core's output records into a :class:`RunReport`
(pydantic, JSON-serializable: Decimals become exact strings); :func:`render_report` prints it
with rich; :func:`plot_equity` draws the equity curve with its drawdown.

Definitions (also carried in ``RunReport.definitions``):

* **trade**: a round trip per asset, from flat back to flat (:mod:`operators.portfolio.trades`);
  its P/L is net of every fee paid on its fills; **hit rate** = trades with net P/L > 0 /
  closed trades;
* **P/L per signal**: net P/L of the closed trades a fused signal opened, averaged over those
  signals;
* **returns** are simple returns between consecutive equity points, sampled every
  ``equity_interval_seconds`` (epoch-aligned, event time; the run's last point, off that grid,
  counts for drawdown and final equity only). Crypto trades around the clock, so
  the annualization factor is ``periods_per_year = 365 × 86 400 / equity_interval_seconds``
  (8 760 for hourly points). **Sharpe** = mean / standard deviation (ddof 1) × √periods;
  **Sortino** = mean / downside deviation × √periods, the downside deviation being
  √(mean(min(r, 0)²)) over all periods (target 0); the risk-free rate is 0;
* **max drawdown**: the largest fall of sampled equity below its running peak, in %;
* **slippage vs mid**: Σ (fill price − mid) × quantity, signed so a cost is positive; in bps
  of the traded mid notional;
* **exposure**: gross exposure / equity at each equity point (average and maximum); time in
  market = share of equity points with an open position.

>>> from decimal import Decimal
>>> from datetime import UTC, datetime, timedelta
>>> from operators.portfolio.book import EquityPoint
>>> t0 = datetime(2022, 1, 1, tzinfo=UTC)
>>> curve = [EquityPoint(ts=t0 + timedelta(hours=i), equity=Decimal(e), cash=Decimal(e),
...                      realized_pnl=Decimal(0), unrealized_pnl=Decimal(0),
...                      fees_paid=Decimal(0), gross_exposure=Decimal(0),
...                      net_exposure=Decimal(0), open_positions=0, drawdown_pct=0.0)
...          for i, e in enumerate([100, 110, 99, 104.5])]
>>> report = build_report(curve, initial_cash=Decimal(100), equity_interval_seconds=3600)
>>> report.max_drawdown_pct, report.total_return_pct
(10.0, 4.5)
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from operators.execution.records import TradingSummary
from operators.portfolio.book import EquityPoint, money
from operators.portfolio.trades import RoundTrip, round_trips
from schemas.common import Side, datetime_to_ns
from schemas.signals import FusedSignal
from schemas.trading import Fill, Order, OrderIntent, RiskDecision

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Console

ZERO = Decimal(0)
SECONDS_PER_YEAR = 365 * 86_400

DEFINITIONS: dict[str, str] = {
    "trade": "round trip per asset from flat to flat; P/L net of all its fees",
    "hit_rate": "closed trades with net P/L > 0 / closed trades",
    "avg_pnl_per_signal": "net P/L of closed trades a fused signal opened, averaged per signal",
    "returns": "simple returns between equity points sampled every equity_interval_seconds",
    "annualization": "periods_per_year = 365 * 86400 / equity_interval_seconds (24/7 market)",
    "sharpe": "mean / std (ddof 1) * sqrt(periods_per_year), risk-free rate 0",
    "sortino": "mean / sqrt(mean(min(r, 0)^2)) * sqrt(periods_per_year), target 0",
    "max_drawdown_pct": "largest fall of sampled equity below its running peak, in %",
    "slippage": "sum((fill price - mid) * quantity), positive = cost; bps of mid notional",
    "exposure": "gross exposure / equity at each equity point; time in market = share of "
    "points with an open position",
}


class AssetExposure(BaseModel):
    model_config = ConfigDict(frozen=True)

    time_in_market_pct: float
    average_exposure_pct: float = Field(description="Mean |exposure| / equity over all points")


class RunReport(BaseModel):
    """Everything the run report shows; ``model_dump_json()`` gives the JSON report."""

    model_config = ConfigDict(frozen=True)

    currency: str
    start: datetime | None
    end: datetime | None
    initial_equity: Decimal
    final_equity: Decimal
    total_return_pct: float
    # trades
    trades: int = Field(description="Closed round trips")
    open_trades: int
    wins: int
    losses: int
    hit_rate: float | None
    avg_pnl_per_trade: Decimal | None
    avg_win: Decimal | None
    avg_loss: Decimal | None
    best_trade: Decimal | None
    worst_trade: Decimal | None
    profit_factor: float | None
    signals_traded: int
    avg_pnl_per_signal: Decimal | None
    # money
    realized_pnl: Decimal = Field(description="Closed trades, gross of fees")
    fees_paid: Decimal
    net_pnl: Decimal = Field(description="Final equity - initial equity")
    turnover: Decimal = Field(description="Σ fill notional")
    slippage_cost: Decimal
    avg_slippage_bps: float | None
    # risk-adjusted
    equity_interval_seconds: int
    periods_per_year: float
    equity_points: int
    sharpe: float | None
    sortino: float | None
    max_drawdown_pct: float
    # exposure
    average_exposure_pct: float
    max_exposure_pct: float
    time_in_market_pct: float
    exposure_by_asset: dict[str, AssetExposure]
    # decisions and bookkeeping
    decisions_by_band: dict[str, int]
    risk_decisions: dict[str, int] = Field(description="By reason code (approved included)")
    orders_by_status: dict[str, int] = Field(description="Final status of each order")
    fills: int
    dead_lettered: int
    late: int
    counters: dict[str, Any] = Field(default_factory=dict)
    definitions: dict[str, str] = Field(default_factory=lambda: dict(DEFINITIONS))


# --- computations ------------------------------------------------------------------------------


def periods_per_year(equity_interval_seconds: int) -> float:
    """Sampling periods in a 365-day, 24/7 year.

    >>> periods_per_year(3600)
    8760.0
    """
    return SECONDS_PER_YEAR / equity_interval_seconds


def simple_returns(equity: Sequence[float]) -> list[float]:
    """``e[i] / e[i-1] - 1``; a non-positive previous value ends the series (ruin).

    >>> simple_returns([100.0, 110.0, 99.0])
    [0.10000000000000009, -0.09999999999999998]
    """
    out: list[float] = []
    for prev, cur in itertools.pairwise(equity):
        if prev <= 0:
            break
        out.append(cur / prev - 1.0)
    return out


def sharpe_ratio(returns: Sequence[float], periods: float) -> float | None:
    """Annualized Sharpe (risk-free 0); None with fewer than 2 returns or no variation.

    >>> round(sharpe_ratio([0.01, -0.01, 0.02], periods=4), 6)
    0.872872
    """
    n = len(returns)
    if n < 2:
        return None
    mean = sum(returns) / n
    variance = sum((r - mean) ** 2 for r in returns) / (n - 1)
    if variance <= 0:
        return None
    return mean / math.sqrt(variance) * math.sqrt(periods)


def sortino_ratio(returns: Sequence[float], periods: float) -> float | None:
    """Annualized Sortino (target 0); None without returns or without a losing period.

    >>> round(sortino_ratio([0.01, -0.01, 0.02], periods=4), 6)
    2.309401
    """
    n = len(returns)
    if n < 1:
        return None
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
    if downside <= 0:
        return None
    return (sum(returns) / n) / downside * math.sqrt(periods)


def max_drawdown_pct(equity: Sequence[float]) -> float:
    """Largest fall below the running peak, in percent.

    >>> max_drawdown_pct([100.0, 120.0, 90.0, 130.0, 117.0])
    25.0
    """
    peak, worst = -math.inf, 0.0
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, (peak - value) / peak * 100)
    return worst


def _pct(part: float, whole: float) -> float:
    return part / whole * 100 if whole else 0.0


def _final_orders(orders: Iterable[Order]) -> dict[str, Order]:
    latest: dict[str, Order] = {}
    for order in orders:
        latest[order.order_id] = order
    return latest


def _signal_pnl(
    trips: list[RoundTrip], orders: Mapping[str, Order], intents: Mapping[str, OrderIntent]
) -> dict[str, Decimal]:
    """Net P/L of closed trades per fused signal that opened them."""
    per_signal: dict[str, Decimal] = {}
    for trip in trips:
        if not trip.closed:
            continue
        order = orders.get(trip.entry_order_id)
        intent = intents.get(order.intent_id) if order else None
        if intent is None or intent.fused_id is None:
            continue
        per_signal[intent.fused_id] = per_signal.get(intent.fused_id, ZERO) + trip.net_pnl
    return per_signal


def _round_trips_per_portfolio(fills: Sequence[Fill]) -> list[RoundTrip]:
    """Round trips rebuilt from each portfolio's own fills (two portfolios' positions in one
    asset are separate trades)."""
    by_portfolio: dict[str, list[Fill]] = {}
    for fill in fills:
        by_portfolio.setdefault(fill.portfolio, []).append(fill)
    return [
        trip
        for portfolio in sorted(by_portfolio)
        for trip in round_trips(sorted(by_portfolio[portfolio], key=lambda f: f.ts))
    ]


def _exposure(
    points: Sequence[EquityPoint],
) -> tuple[float, float, float, dict[str, AssetExposure]]:
    if not points:
        return 0.0, 0.0, 0.0, {}
    ratios = [_pct(float(p.gross_exposure), float(p.equity)) for p in points]
    in_market = sum(1 for p in points if p.open_positions > 0)
    assets = sorted({a for p in points for a in p.exposure})
    by_asset = {}
    for asset in assets:
        held = [p for p in points if p.exposure.get(asset)]
        total = sum(_pct(abs(float(p.exposure[asset])), float(p.equity)) for p in held)
        by_asset[asset] = AssetExposure(
            time_in_market_pct=_pct(len(held), len(points)),
            average_exposure_pct=total / len(points),
        )
    return sum(ratios) / len(ratios), max(ratios), _pct(in_market, len(points)), by_asset


def build_report(
    events: Iterable[Any],
    *,
    initial_cash: Decimal,
    equity_interval_seconds: int,
    currency: str = "USDT",
    decisions_by_band: Mapping[str, int] | None = None,
    dead_lettered: int = 0,
    late: int = 0,
    counters: Mapping[str, Any] | None = None,
) -> RunReport:
    """Build the report from the trading core's output records (any order of types).

    ``decisions_by_band`` defaults to counting the :class:`~schemas.signals.FusedSignal`
    records among ``events``; ``dead_lettered`` and ``late`` are the flow's counts;
    ``counters`` default to the core's closing :class:`~operators.execution.records.
    TradingSummary` found among ``events`` and are carried through as they are.
    """
    points: list[EquityPoint] = []
    fills: list[Fill] = []
    orders: list[Order] = []
    intents: dict[str, OrderIntent] = {}
    decisions: list[RiskDecision] = []
    bands: Counter[str] = Counter()
    summaries: dict[str, Mapping[str, Any]] = {}
    for event in events:
        if isinstance(event, EquityPoint):
            points.append(event)
        elif isinstance(event, Fill):
            fills.append(event)
        elif isinstance(event, Order):
            orders.append(event)
        elif isinstance(event, OrderIntent):
            intents[event.intent_id] = event
        elif isinstance(event, RiskDecision):
            decisions.append(event)
        elif isinstance(event, FusedSignal):
            bands[event.decision.value] += 1
        elif isinstance(event, TradingSummary) and counters is None:
            summaries[event.portfolio] = event.counters
    # one portfolio: its counters as they are; several: by portfolio id
    core_counters = next(iter(summaries.values())) if len(summaries) == 1 else summaries
    points.sort(key=lambda p: p.ts)
    final_orders = _final_orders(orders)
    trips = _round_trips_per_portfolio(fills)
    closed = [t for t in trips if t.closed]
    wins = [t.net_pnl for t in closed if t.net_pnl > 0]
    losses = [t.net_pnl for t in closed if t.net_pnl <= 0]
    per_signal = _signal_pnl(trips, final_orders, intents)

    values = [float(p.equity) for p in points]
    step_ns = equity_interval_seconds * 1_000_000_000
    on_grid = [float(p.equity) for p in points if datetime_to_ns(p.ts) % step_ns == 0]
    returns = simple_returns(on_grid)  # the last, off-grid point would be a partial period
    periods = periods_per_year(equity_interval_seconds)
    final_equity = points[-1].equity if points else initial_cash
    avg_exposure, max_exposure, in_market, by_asset = _exposure(points)

    slippage = sum(
        ((f.price - f.mid_price) * f.quantity * (1 if f.side is Side.BUY else -1))
        for f in fills
        if f.mid_price is not None
    )
    mid_notional = sum((f.mid_price * f.quantity for f in fills if f.mid_price is not None), ZERO)

    def average(amounts: Sequence[Decimal]) -> Decimal | None:
        return money(sum(amounts, ZERO) / len(amounts)) if amounts else None

    return RunReport(
        currency=currency,
        start=points[0].ts if points else None,
        end=points[-1].ts if points else None,
        initial_equity=initial_cash,
        final_equity=money(final_equity),
        total_return_pct=float((final_equity - initial_cash) / initial_cash * 100),
        trades=len(closed),
        open_trades=len(trips) - len(closed),
        wins=len(wins),
        losses=len(losses),
        hit_rate=len(wins) / len(closed) if closed else None,
        avg_pnl_per_trade=average([t.net_pnl for t in closed]),
        avg_win=average(wins),
        avg_loss=average(losses),
        best_trade=money(max(t.net_pnl for t in closed)) if closed else None,
        worst_trade=money(min(t.net_pnl for t in closed)) if closed else None,
        profit_factor=(
            float(sum(wins, ZERO) / -sum(losses, ZERO))
            if losses and sum(losses, ZERO) < 0
            else None
        ),
        signals_traded=len(per_signal),
        avg_pnl_per_signal=average(list(per_signal.values())),
        realized_pnl=money(sum((t.gross_pnl for t in closed), ZERO)),
        fees_paid=sum((f.fee for f in fills), ZERO),
        net_pnl=money(final_equity - initial_cash),
        turnover=sum((f.price * f.quantity for f in fills), ZERO),
        slippage_cost=money(Decimal(slippage)),
        avg_slippage_bps=float(Decimal(slippage) / mid_notional * 10_000) if mid_notional else None,
        equity_interval_seconds=equity_interval_seconds,
        periods_per_year=periods,
        equity_points=len(points),
        sharpe=sharpe_ratio(returns, periods),
        sortino=sortino_ratio(returns, periods),
        max_drawdown_pct=max_drawdown_pct(values),
        average_exposure_pct=avg_exposure,
        max_exposure_pct=max_exposure,
        time_in_market_pct=in_market,
        exposure_by_asset=by_asset,
        decisions_by_band=dict(decisions_by_band) if decisions_by_band is not None else dict(bands),
        risk_decisions=dict(Counter(d.reason.value for d in decisions)),
        orders_by_status=dict(Counter(o.status.value for o in final_orders.values())),
        fills=len(fills),
        dead_lettered=dead_lettered,
        late=late,
        counters=dict(counters if counters is not None else core_counters),
    )


# --- rendering ---------------------------------------------------------------------------------


def _fmt(value: Any, suffix: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}{suffix}"
    return f"{value}{suffix}"


def render_report(report: RunReport, console: Console) -> None:
    """Print the report as rich tables."""
    from rich.table import Table

    cur = f" {report.currency}"
    period = (
        f"{report.start:%Y-%m-%d %H:%M} → {report.end:%Y-%m-%d %H:%M} UTC"
        if report.start and report.end
        else "no equity points"
    )
    perf = Table(title=f"Performance ({period})", show_header=False, title_justify="left")
    perf.add_column(style="bold")
    perf.add_column(justify="right")
    rows = [
        ("equity", f"{_fmt(report.initial_equity)} → {_fmt(report.final_equity)}{cur}"),
        ("net P/L", _fmt(report.net_pnl, cur) + f"  ({report.total_return_pct:+.2f}%)"),
        ("Sharpe / Sortino (annualized)", f"{_fmt(report.sharpe)} / {_fmt(report.sortino)}"),
        ("max drawdown", _fmt(report.max_drawdown_pct, "%")),
        ("fees paid", _fmt(report.fees_paid, cur)),
        (
            "slippage vs mid",
            f"{_fmt(report.slippage_cost, cur)} ({_fmt(report.avg_slippage_bps)} bps)",
        ),
        ("turnover", _fmt(report.turnover, cur)),
        (
            "exposure avg / max",
            f"{_fmt(report.average_exposure_pct, '%')} / {_fmt(report.max_exposure_pct, '%')}",
        ),
        ("time in market", _fmt(report.time_in_market_pct, "%")),
    ]
    for row in rows:
        perf.add_row(*row)
    console.print(perf)

    trades = Table(title="Trades", show_header=False, title_justify="left")
    trades.add_column(style="bold")
    trades.add_column(justify="right")
    hit = None if report.hit_rate is None else report.hit_rate * 100
    for row in (
        ("closed / open", f"{report.trades} / {report.open_trades}"),
        ("hit rate", f"{_fmt(hit, '%')} ({report.wins} won, {report.losses} lost)"),
        ("avg P/L per trade", _fmt(report.avg_pnl_per_trade, cur)),
        (
            "avg P/L per signal",
            f"{_fmt(report.avg_pnl_per_signal, cur)} ({report.signals_traded} signals)",
        ),
        ("avg win / avg loss", f"{_fmt(report.avg_win)} / {_fmt(report.avg_loss)}"),
        ("best / worst", f"{_fmt(report.best_trade)} / {_fmt(report.worst_trade)}"),
        ("profit factor", _fmt(report.profit_factor)),
        ("fills", str(report.fills)),
    ):
        trades.add_row(*row)
    console.print(trades)

    counts = Table(title="Decisions and data", title_justify="left")
    counts.add_column("what", style="bold")
    counts.add_column("counts")
    counts.add_row("fused decisions by band", _counts(report.decisions_by_band))
    counts.add_row("risk decisions by reason", _counts(report.risk_decisions))
    counts.add_row("orders by final status", _counts(report.orders_by_status))
    counts.add_row("dead-lettered / late", f"{report.dead_lettered} / {report.late}")
    console.print(counts)


def _counts(values: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(values.items(), key=lambda kv: -kv[1])) or "-"


# --- plot --------------------------------------------------------------------------------------


def _equity_series(
    equity: Sequence[EquityPoint] | pl.DataFrame,
) -> tuple[list[datetime], list[float]]:
    if isinstance(equity, Sequence):
        return [p.ts for p in equity], [float(p.equity) for p in equity]
    frame = equity.sort("ts")
    return frame["ts"].to_list(), [float(v) for v in frame["equity"].to_list()]


def plot_equity(
    equity: Sequence[EquityPoint] | pl.DataFrame,
    path: str | Path,
    *,
    fills: Sequence[Fill] = (),
    title: str = "Equity",
) -> Path:
    """Save the equity curve (top) and its drawdown in % (bottom) to ``path`` (PNG, SVG …).

    ``equity`` is a list of equity points or a frame with ``ts`` and ``equity`` columns (as
    :func:`connectors.store.trading.read_equity` returns); ``fills`` adds buy (▲) and sell (▼)
    markers on the curve.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np

    times, values = _equity_series(equity)
    if not times:
        raise ValueError("no equity points to plot")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    curve = np.asarray(values, dtype=float)
    peak = np.maximum.accumulate(curve)
    drawdown = np.where(peak > 0, (curve - peak) / peak * 100, 0.0)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        top.plot(times, curve, color="tab:blue", linewidth=1.2, label="equity")
        if fills:
            x = mdates.date2num(times)
            for side, marker, color in ((Side.BUY, "^", "tab:green"), (Side.SELL, "v", "tab:red")):
                at = [f.ts for f in fills if f.side is side]
                if at:
                    y = np.interp(mdates.date2num(at), x, curve)
                    top.scatter(at, y, marker=marker, color=color, s=18, label=side.value, zorder=3)
        top.set_title(title)
        top.set_ylabel("equity")
        top.grid(alpha=0.3)
        top.legend(loc="best")
        bottom.fill_between(times, drawdown, 0.0, color="tab:red", alpha=0.4, step="post")
        bottom.set_ylabel("drawdown %")
        bottom.grid(alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(target, dpi=110)
    finally:
        plt.close(fig)
    return target
