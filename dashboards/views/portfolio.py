"""Portfolio: positions, equity curve with drawdown, orders and fills of a run (one portfolio
at a time when the run trades several)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from api.reads.trading import (
    current_positions,
    equity_curve,
    fills_page,
    orders_page,
    portfolio_ids,
)
from dashboards.charts import equity_chart
from dashboards.store import require_engine
from dashboards.ui import live, rows

TITLE = "Portfolio"
ICON = ":material/account_balance_wallet:"
URL = "portfolio"


def _portfolio() -> None:
    engine = require_engine()
    with engine.connect() as conn:
        _, books = portfolio_ids(conn, None)
    book = _choose(books)
    with engine.connect() as conn:
        run_id, positions = current_positions(conn, None, portfolio=book)
        equity_run, curve = equity_curve(conn, None, limit=100_000, portfolio=book)
        order_run, order_total, orders = orders_page(
            conn, None, asset=None, status=None, limit=500, offset=0, portfolio=book
        )
        fill_run, fill_total, fills = fills_page(
            conn, None, asset=None, limit=500, offset=0, portfolio=book
        )
    if not any((positions, curve, orders, fills)):
        st.info(
            "No trading records in the store yet: positions, orders and fills appear once the "
            "flow runs with execution (the full stage)."
        )
        return
    st.caption(f"Run: {equity_run or run_id or order_run or fill_run}")
    if curve:
        last = curve[-1]
        first = curve[0]
        cols = st.columns(4)
        cols[0].metric(
            "equity", f"{float(last.equity):,.2f}", f"{float(last.equity - first.equity):+,.2f}"
        )
        cols[1].metric("realized P/L", f"{float(last.realized_pnl):+,.2f}")
        cols[2].metric("fees paid", f"{float(last.fees_paid):,.2f}")
        cols[3].metric("max drawdown", f"{max(p.drawdown_pct for p in curve):.2f} %")
        frame = pl.DataFrame(
            {
                "ts": [p.ts for p in curve],
                "equity": [float(p.equity) for p in curve],
                "drawdown_pct": [p.drawdown_pct for p in curve],
            }
        )
        st.altair_chart(equity_chart(frame), width="stretch")
    st.subheader("Open positions", anchor=False)
    if positions:
        st.dataframe(rows(positions), hide_index=True, width="stretch")
    else:
        st.caption("Flat.")
    st.subheader(f"Orders ({order_total})", anchor=False)
    st.dataframe(rows(orders), hide_index=True, width="stretch")
    st.subheader(f"Fills ({fill_total})", anchor=False)
    st.dataframe(rows(fills), hide_index=True, width="stretch")


def _choose(books: list[str]) -> str | None:
    """The portfolio to show: the only one, or the one picked (an equity curve is one book's)."""
    if len(books) <= 1:
        return books[0] if books else None
    return st.selectbox("Portfolio", books, key="portfolio_book")


def render() -> None:
    st.title("Portfolio", anchor=False)
    live(require_engine(), _portfolio)
