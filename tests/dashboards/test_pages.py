"""Every dashboard page under Streamlit's AppTest, on the store the real flow wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from api.keys import create_key
from api.reviews import decide
from connectors.store.audit import audit_head, audit_log, verify_store
from connectors.store.engine import open_store
from connectors.store.market import (
    latest_candle_per_symbol,
    read_candles,
    start_run,
    write_dead_letters,
)
from connectors.store.signals import read_fused, read_review_queue
from connectors.store.trading import read_equity, read_fills, write_records
from flows.report import build_report
from operators.portfolio.book import EquityPoint
from schemas.common import Timeframe
from schemas.records import DeadLetter
from schemas.trading import Fill

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
TIMEOUT = 60


def page(name: str) -> AppTest:
    """One page rendered on its own (as the navigation runs it)."""
    at = AppTest.from_string(
        f"from dashboards.views import {name}\n{name}.render()\n", default_timeout=TIMEOUT
    )
    return at.run()


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _newest(store: Path) -> dict:
    return read_fused(open_store(store)).sort("ts", "fused_id").row(-1, named=True)


def test_app_opens_on_the_signals_board(store: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    no_errors(at)
    assert [t.value for t in at.title] == ["Live signals"]
    assert any(str(store) in c.value for c in at.sidebar.caption)


def test_signals_board_shows_the_latest_fused_signal_per_asset(store: Path) -> None:
    at = page("signals_board")
    no_errors(at)
    newest = _newest(store)
    assert at.subheader[0].value == newest["asset"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["fused score"] == f"{newest['score']:+.3f}"
    assert any(f"[{newest['decision'].upper()}]" in m.value for m in at.markdown)
    sources = at.dataframe[0].value
    assert len(sources) == len(newest["contributions"])
    assert set(sources["source"]) == {
        f"{c['origin']}@{c['timeframe']}" for c in newest["contributions"]
    }
    recent = at.dataframe[1].value
    decided = read_fused(open_store(store)).filter(pl.col("decision") != "ignore")
    assert len(recent) == min(20, decided.height)
    assert set(recent["decision"]) <= {"OPEN", "REVIEW"}


def _chart_caption(store: Path, timeframe: str, bars: int) -> str:
    """What the chart page should count in its window, from the store's own readers."""
    engine = open_store(store)
    candles = read_candles(engine, symbol="BTC-PERP", timeframe=timeframe).tail(bars)
    bar = timedelta(seconds=Timeframe.parse(timeframe).seconds)
    start, end = candles["ts"][0], candles["ts"][-1] + bar
    in_view = (pl.col("ts") >= start) & (pl.col("ts") < end)
    marked = read_fused(engine).filter(pl.col("decision").is_in(["open", "review"]) & in_view)
    fills = read_fills(engine).filter(in_view)
    return (
        f"{candles.height} {timeframe} candles of BTC-PERP, {marked.height} fused signal(s), "
        f"{fills.height} fill(s) in view"
    )


def test_charts_draw_the_last_candles_with_signal_markers(store: Path) -> None:
    at = page("charts")
    no_errors(at)
    assert len(at.get("vega_lite_chart")) == 2  # candles, RSI
    assert at.caption[-1].value == _chart_caption(store, "15m", 300)
    at.slider(key="chart_bars").set_value(1500).run()  # back far enough for REVIEW markers
    no_errors(at)
    wide = _chart_caption(store, "15m", 1500)
    assert at.caption[-1].value == wide and ", 0 fused signal(s)" not in wide
    at.selectbox(key="chart_timeframe").select("1h").run()
    no_errors(at)
    assert at.caption[-1].value == _chart_caption(store, "1h", 1500)


def test_fusion_breakdown_adds_up_to_the_score(store: Path) -> None:
    at = page("fusion")
    no_errors(at)
    newest = _newest(store)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["score"] == f"{newest['score']:+.3f}"
    assert metrics["sources"] == str(len(newest["contributions"]))
    assert f"= the fused score {newest['score']:+.4f}" in at.caption[0].value
    total = sum(c["share"] for c in newest["contributions"])
    assert at.caption[0].value.startswith(f"Σ shares = {total:+.4f}")
    assert [m.value for m in at.markdown if m.value.startswith("- ")] == [
        f"- {r}" for r in newest["reasons"]
    ]


def _audit_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_log)).scalar_one()


def test_review_approve_writes_queue_and_audit(store: Path) -> None:
    engine = open_store(store)
    pending = read_review_queue(engine, status="pending")["fused_id"].to_list()
    before = _audit_rows(engine)  # the flow audits its own records too
    key = create_key(engine, "ana", ["review"])
    at = page("reviews")
    no_errors(at)
    assert at.selectbox(key="review_choice").value == pending[0]
    assert not [b for b in at.button if b.label == "Approve"]  # read-only until signed in
    at.text_input(key="api_key_input").input(key.key)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    no_errors(at)
    assert "Signed in as ana (review)" in [c.value for c in at.sidebar.caption]
    at.text_area(key="review_comment").input("depth is fine")
    next(b for b in at.button if b.label == "Approve").click()
    at.run()
    no_errors(at)
    assert at.success[0].value == f"approved {pending[0]} (audit record {before})"
    queue = read_review_queue(engine)
    row = queue.filter(pl.col("fused_id") == pending[0]).row(0, named=True)
    assert (row["status"], row["reviewer"], row["comment"]) == ("approved", "ana", "depth is fine")
    with engine.connect() as conn:
        record = conn.execute(select(audit_log).where(audit_log.c.seq == before)).one()
    assert record.kind == "review_decision"
    assert f'"via":"dashboard:{key.key_id}"' in record.payload
    assert _audit_rows(engine) == before + 1
    assert verify_store(engine).ok
    assert at.selectbox(key="review_choice").value == pending[1]  # next one up


def test_reviews_stay_read_only_without_the_review_scope(store: Path) -> None:
    engine = open_store(store)
    before = _audit_rows(engine)
    reader = create_key(engine, "bo", ["signals:read"])
    at = page("reviews")
    at.text_input(key="api_key_input").input("qk_wrong")
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    assert "not valid" in at.sidebar.error[0].value
    at.text_input(key="api_key_input").input(reader.key)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    no_errors(at)
    assert "Read-only" in at.info[0].value
    assert not [b for b in at.button if b.label in ("Approve", "Reject")]
    assert _audit_rows(engine) == before
    assert read_review_queue(engine, status="pending").height >= 1


def test_a_trusted_proxy_header_signs_in_the_key_owner(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboards.auth import from_proxy, via

    engine = open_store(store)
    create_key(engine, "ana", ["review"])
    ana = from_proxy(engine, "ana")
    assert (ana.owner, via(ana), [s.value for s in ana.scopes]) == (
        "ana",
        "dashboard:proxy",
        ["review"],
    )
    assert from_proxy(engine, "mallory").scopes == frozenset()  # no key: read-only
    monkeypatch.setenv("QUORUM_DASHBOARD_AUTH_HEADER", "X-Forwarded-User")
    at = page("reviews")  # AppTest sends no such header: nobody is signed in
    no_errors(at)
    assert "Not signed in" in [c.value for c in at.sidebar.caption]
    assert not [b for b in at.button if b.label == "Sign in"]


def test_portfolio_explains_an_empty_book_then_shows_the_equity(store: Path) -> None:
    flow_equity = read_equity(open_store(store))
    at = page("portfolio")
    no_errors(at)
    if flow_equity.height:  # the flow ran with execution: its run is shown
        last = flow_equity["equity"][-1]
        assert {m.label: m.value for m in at.metric}["equity"] == f"{last:,.2f}"
    else:  # a store written without the execution stage
        assert "No trading records" in at.info[0].value
    t0 = datetime(2022, 1, 10, tzinfo=UTC)
    points = [
        EquityPoint(
            ts=t0 + timedelta(hours=i),
            equity=Decimal(v),
            cash=Decimal(v),
            realized_pnl=Decimal(0),
            unrealized_pnl=Decimal(0),
            fees_paid=Decimal("1.5"),
            gross_exposure=Decimal(0),
            net_exposure=Decimal(0),
            open_positions=0,
            drawdown_pct=dd,
        )
        for i, (v, dd) in enumerate([("10000", 0.0), ("10100", 0.0), ("9999", 1.0)])
    ]
    fill = Fill(
        fill_id="f1",
        order_id="o1",
        asset="BTC-PERP",
        side="buy",
        quantity=Decimal("0.1"),
        price=Decimal("41000"),
        fee=Decimal("1.5"),
        ts=t0,
    )
    engine = open_store(store)
    run_id = start_run(engine, "run", run_id="test-run")  # the latest run: shown by default
    write_records(engine, [*points, fill], run_id=run_id)
    at = page("portfolio")
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["equity"] == "9,999.00" and metrics["max drawdown"] == "1.00 %"
    assert at.subheader[-1].value == "Fills (1)"


def test_portfolio_page_shows_one_book_of_a_run_with_several(store: Path) -> None:
    t0 = datetime(2022, 1, 10, tzinfo=UTC)

    def point(book: str, hours: int, value: str) -> EquityPoint:
        return EquityPoint(
            ts=t0 + timedelta(hours=hours),
            equity=Decimal(value),
            cash=Decimal(value),
            realized_pnl=Decimal(0),
            unrealized_pnl=Decimal(0),
            fees_paid=Decimal(0),
            gross_exposure=Decimal(0),
            net_exposure=Decimal(0),
            open_positions=0,
            drawdown_pct=0.0,
            portfolio=book,
        )

    engine = open_store(store)
    run_id = start_run(engine, "run", run_id="two-books")
    books = [point("alts", 0, "5000"), point("alts", 1, "5100")]
    books += [point("majors", 0, "20000"), point("majors", 1, "19000")]
    write_records(engine, books, run_id=run_id)
    at = page("portfolio")
    no_errors(at)
    assert at.selectbox[0].options == ["alts", "majors"]
    assert {m.label: m.value for m in at.metric}["equity"] == "5,100.00"  # alts, not a mix
    at.selectbox[0].select("majors").run()
    no_errors(at)
    assert {m.label: m.value for m in at.metric}["equity"] == "19,000.00"


def test_run_report_reads_a_report_file_and_lists_runs(store: Path, tmp_path: Path) -> None:
    t0 = datetime(2022, 1, 1, tzinfo=UTC)
    curve = [
        EquityPoint(
            ts=t0 + timedelta(hours=i),
            equity=Decimal(e),
            cash=Decimal(e),
            realized_pnl=Decimal(0),
            unrealized_pnl=Decimal(0),
            fees_paid=Decimal(0),
            gross_exposure=Decimal(0),
            net_exposure=Decimal(0),
            open_positions=0,
            drawdown_pct=0.0,
        )
        for i, e in enumerate([100, 110, 99, 104.5])
    ]
    report = build_report(curve, initial_cash=Decimal(100), equity_interval_seconds=3600)
    path = tmp_path / "report.json"
    path.write_text(report.model_dump_json())
    at = page("run_report")
    no_errors(at)
    runs = at.dataframe[0].value
    assert runs["command"].tolist() == ["run"] and runs["records in"].tolist() == [45031]
    at.text_input(key="report_path").input(str(path)).run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["total return"] == "+4.50 %" and metrics["max drawdown"] == "10.00 %"
    bad = tmp_path / "bad.json"
    bad.write_text('{"currency": "usd"}')
    at.text_input(key="report_path").input(str(bad)).run()
    assert at.error[0].value.startswith(f"{bad} is not a run report:")


def test_feed_health_lists_every_feed_and_dead_letters(store: Path) -> None:
    engine = open_store(store)
    write_dead_letters(
        engine,
        "r1",
        [DeadLetter(source="ws", reason="bad_json", detail="eof", raw=f"{{{i}") for i in range(2)],
    )
    at = page("feed_health")
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["feeds"] == str(latest_candle_per_symbol(engine).height)
    assert metrics["dead letters"] == "2"
    assert at.markdown[0].value == "### :orange-badge[DEGRADED]"  # replayed data is old
    assert len(at.dataframe[0].value) == latest_candle_per_symbol(engine).height


def test_audit_log_lists_records_and_verifies(store: Path) -> None:
    engine = open_store(store)
    fused_id = read_review_queue(engine, status="pending")["fused_id"][0]
    record = decide(
        engine,
        fused_id,
        "reject",
        reviewer="bo",
        comment="thin book",
        now=datetime(2022, 2, 2, tzinfo=UTC),
        via="test",
    ).audit
    at = page("audit_log")
    no_errors(at)
    assert at.caption[0].value.startswith(f"{record.seq + 1} records · head {record.hash[:16]}")
    at.selectbox(key="audit_kind").select("review_decision").run()
    no_errors(at)
    table = at.dataframe[0].value
    assert table["kind"].tolist() == ["review_decision"]
    assert table["seq"].tolist() == [record.seq]
    at.button(key="audit_verify").click().run()
    total = record.seq + 1
    intact = f"audit chain intact: {total} records (records 0..{record.seq})"
    assert at.success[0].value.startswith(intact)


def test_audit_log_of_an_empty_chain(store: Path) -> None:
    engine = open_store(store)
    with engine.begin() as conn:  # a store written without the audit stage
        conn.execute(audit_log.delete())
        conn.execute(audit_head.delete())
    at = page("audit_log")
    no_errors(at)
    assert at.caption[0].value == "empty chain"
    assert "No audit records" in at.info[0].value


def test_missing_store_is_explained_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere" / "store.sqlite"
    monkeypatch.setenv("QUORUM_STORE", str(missing))
    at = page("signals_board")
    assert f"no store at {missing}" in at.error[0].value
    assert not missing.exists() and not missing.parent.exists()


def test_the_kill_switch_needs_the_trading_control_scope_and_audits_who(store: Path) -> None:
    engine = open_store(store)
    desk = create_key(engine, "ana", ["trading:control"])
    at = page("controls")
    no_errors(at)
    assert "Read-only" in at.info[-1].value
    at.text_input(key="api_key_input").input(desk.key)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    at.text_input(key="control_reason").input("exchange incident")
    next(b for b in at.button if b.label == "Halt").click()
    at.run()
    no_errors(at)
    assert at.success[0].value.startswith("halt recorded")
    with engine.connect() as conn:
        record = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()
    assert record.kind == "trading_control"
    assert '"actor":"ana"' in record.payload and '"reason":"exchange incident"' in record.payload
    assert f'"via":"dashboard:{desk.key_id}"' in record.payload
    assert at.dataframe[0].value["by"].tolist() == ["ana"]
