"""Run report: the JSON report of a backtest (``--report`` / ``QUORUM_REPORT``) and the runs."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st
from pydantic import ValidationError

from api.reads.trading import recent_runs
from dashboards.config import current
from dashboards.store import require_engine
from dashboards.ui import utc
from flows.report import RunReport

TITLE = "Run report"
ICON = ":material/summarize:"
URL = "report"


def load_report(path: Path) -> RunReport:
    """Read and validate a report file; ``ValueError`` names the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return RunReport.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise ValueError(f"{path} is not a run report: {where}: {first['msg']}") from None


def _num(value: object, fmt: str) -> str:
    return "–" if value is None else format(float(value), fmt)  # type: ignore[arg-type]


def _report(report: RunReport) -> None:
    cols = st.columns(4)
    cols[0].metric("total return", f"{report.total_return_pct:+.2f} %")
    cols[1].metric("net P/L", f"{_num(report.net_pnl, '+,.2f')} {report.currency}")
    cols[2].metric("max drawdown", f"{report.max_drawdown_pct:.2f} %")
    cols[3].metric("Sharpe", _num(report.sharpe, ".2f"))
    cols = st.columns(4)
    cols[0].metric("trades", report.trades)
    cols[1].metric(
        "hit rate", _num(None if report.hit_rate is None else report.hit_rate * 100, ".1f") + " %"
    )
    cols[2].metric("fees", _num(report.fees_paid, ",.2f"))
    cols[3].metric("Sortino", _num(report.sortino, ".2f"))
    st.caption(
        f"{utc(report.start)} → {utc(report.end)} · {report.equity_points} equity points · "
        f"{report.fills} fills · slippage {_num(report.avg_slippage_bps, '.2f')} bps"
    )
    left, middle, right = st.columns(3)
    left.write("Decisions by band")
    left.dataframe(
        [{"band": k, "count": v} for k, v in report.decisions_by_band.items()], hide_index=True
    )
    middle.write("Risk decisions")
    middle.dataframe(
        [{"reason": k, "count": v} for k, v in report.risk_decisions.items()], hide_index=True
    )
    right.write("Orders by status")
    right.dataframe(
        [{"status": k, "count": v} for k, v in report.orders_by_status.items()], hide_index=True
    )
    with st.expander("Definitions"):
        for name, text in report.definitions.items():
            st.markdown(f"- **{name}**: {text}")


def render() -> None:
    st.title("Run report", anchor=False)
    configured = current().report
    path_text = st.text_input(
        "Report file (JSON)",
        value="" if configured is None else str(configured),
        key="report_path",
        help="The JSON run report of a backtest; also --report or QUORUM_REPORT",
    )
    if path_text.strip():
        try:
            _report(load_report(Path(path_text.strip())))
        except ValueError as exc:
            st.error(str(exc))
    st.subheader("Runs in the store", anchor=False)
    engine = require_engine()
    with engine.connect() as conn:
        runs = recent_runs(conn, 100)
    if not runs:
        st.info("No runs recorded in the store.")
        return
    st.dataframe(
        [
            {
                "run_id": r.run_id,
                "command": r.command,
                "started (UTC)": r.started_at,
                "finished (UTC)": r.finished_at,
                "records in": (r.summary or {}).get("records_in"),
                "records/s": (r.summary or {}).get("records_per_s"),
                "dead-lettered": (r.summary or {}).get("dead_lettered"),
            }
            for r in runs
        ],
        hide_index=True,
        width="stretch",
    )
    chosen = st.selectbox("Run summary", [r.run_id for r in runs], key="report_run")
    run = next(r for r in runs if r.run_id == chosen)
    st.code(json.dumps({"args": run.args, "summary": run.summary}, indent=2), language="json")
