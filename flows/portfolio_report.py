"""The run report of a run with several portfolios: the whole book, then each portfolio.

The whole-run report adds the portfolios up (starting cash, the combined equity curve of
:mod:`operators.portfolio.combined`, every trade and fill); each portfolio then gets its own
report over its records alone. The fused decisions, dead letters and late trades are the run's
and appear in the whole-run report only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flows.report import RunReport, build_report
from operators.portfolio.book import EquityPoint
from operators.portfolio.combined import combine_equity
from operators.portfolio.portfolios import PortfolioSet

if TYPE_CHECKING:
    from rich.console import Console


def build_portfolio_reports(
    events: Iterable[Any],
    portfolios: PortfolioSet,
    *,
    decisions_by_band: Mapping[str, int] | None = None,
    dead_lettered: int = 0,
    late: int = 0,
) -> tuple[RunReport, dict[str, RunReport]]:
    """The whole run's report and one report per portfolio id (in configuration order)."""
    events = list(events)
    cash = {p.id: p.config.portfolio.initial_cash for p in portfolios.portfolios}
    first = portfolios.portfolios[0].config.portfolio
    points = [e for e in events if isinstance(e, EquityPoint)]
    others = [e for e in events if not isinstance(e, EquityPoint)]
    whole = build_report(
        [*others, *combine_equity(points, cash)],
        initial_cash=sum(cash.values(), Decimal(0)),
        equity_interval_seconds=first.equity_interval_seconds,
        currency=first.currency,
        decisions_by_band=decisions_by_band,
        dead_lettered=dead_lettered,
        late=late,
    )
    each = {}
    for portfolio in portfolios.portfolios:
        own = [e for e in events if getattr(e, "portfolio", None) == portfolio.id]
        config = portfolio.config.portfolio
        each[portfolio.id] = build_report(
            own,
            initial_cash=config.initial_cash,
            equity_interval_seconds=config.equity_interval_seconds,
            currency=config.currency,
            decisions_by_band={},
        )
    return whole, each


def render_portfolios(reports: Mapping[str, RunReport], console: Console) -> None:
    """One row per portfolio: equity, P/L, trades, hit rate, drawdown, fills."""
    from rich.table import Table

    table = Table(title="Portfolios", title_justify="left")
    for column in ("portfolio", "equity", "net P/L", "return", "trades", "hit rate", "max DD"):
        table.add_column(column, justify="left" if column == "portfolio" else "right")
    table.add_column("fills", justify="right")
    for pid, report in reports.items():
        hit = "n/a" if report.hit_rate is None else f"{report.hit_rate:.0%}"
        table.add_row(
            pid,
            f"{report.initial_equity:,.2f} → {report.final_equity:,.2f}",
            f"{report.net_pnl:,.2f}",
            f"{report.total_return_pct:+.2f}%",
            str(report.trades),
            hit,
            f"{report.max_drawdown_pct:.2f}%",
            str(report.fills),
        )
    console.print(table)
