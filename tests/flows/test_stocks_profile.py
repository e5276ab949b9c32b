"""The stock set end to end: the README's Stocks commands on the shipped GOOG daily bars.

`quorum data check`, `quorum run` and `quorum evaluate` with `flows/profiles/stocks-1d.yaml`:
the data has a bar for every NYSE session, every generator speaks on days and weeks, fusion
decides, the trading core trades, and evaluate has a row per source. The figures the README
quotes are pinned at the end; a deliberate change updates them and the README together.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.files import shipped_path
from connectors.store.engine import open_store
from flows.cli import main as cli_main
from flows.config import load_config

pytestmark = pytest.mark.slow

PROFILE = Path(__file__).resolve().parents[2] / "flows" / "profiles" / "stocks-1d.yaml"
DATA = shipped_path("goog_1d_2004-2008")
WEEK_MINUTES = "10080"


@pytest.fixture(scope="module")
def stock_job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`quorum run` then `quorum evaluate` exactly as the README's Stocks commands run them."""
    out = tmp_path_factory.mktemp("stocks")
    paths = {
        "store": out / "stocks.sqlite",
        "report": out / "report.json",
        "plot": out / "equity.png",
        "evaluate": out / "evaluate.json",
    }
    run = ["run", "--quiet", "--data", str(DATA), "--config", str(PROFILE)]
    run += ["--store", str(paths["store"]), "--report", str(paths["report"])]
    assert cli_main([*run, "--plot", str(paths["plot"])]) == 0
    evaluate = ["evaluate", "--quiet", "--store", str(paths["store"])]
    evaluate += ["--fused-horizon", WEEK_MINUTES, "--json", str(paths["evaluate"])]
    assert cli_main(evaluate) == 0
    return paths


def _query(store: Path, sql: str) -> list[tuple]:
    engine = open_store(store)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


def test_every_nyse_session_has_a_bar(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    args = ["data", "check", "--file", str(DATA), "--symbol", "GOOG", "--timeframe", "1d"]
    assert cli_main([*args, "--config", str(PROFILE), "--json", str(out)]) == 0
    (series,) = json.loads(out.read_text())["series"]
    assert (series["rows"], series["gaps"], series["missing_bars"]) == (1047, 0, 0)
    # on the crypto default (24/7) the weekends and holidays would be gaps: the calendar counts
    assert cli_main([*args, "--json", str(out)]) == 1
    assert json.loads(out.read_text())["series"][0]["gaps"] > 200


def test_days_and_weeks_on_the_session_calendar(stock_job: dict[str, Path]) -> None:
    counts = dict(
        _query(stock_job["store"], "SELECT timeframe, COUNT(*) FROM candles GROUP BY timeframe")
    )
    assert counts == {"1d": 1047, "1w": 218}
    assert _query(stock_job["store"], "SELECT COUNT(*) FROM dead_letters") == [(0,)]
    out = stock_job["store"].with_name("check.json")
    check = ["data", "check", "--store", str(stock_job["store"]), "--config", str(PROFILE)]
    assert cli_main([*check, "--json", str(out)]) == 0  # weeks stamped at the opening bell
    series = json.loads(out.read_text())["series"]
    assert [(s["timeframe"], s["misaligned"], s["gaps"]) for s in series] == [
        ("1d", 0, 0),
        ("1w", 0, 0),
    ]


def test_every_source_signals_on_days_and_weeks(stock_job: dict[str, Path]) -> None:
    rows = _query(
        stock_job["store"], "SELECT origin, timeframe, COUNT(*) FROM signals GROUP BY 1, 2"
    )
    counts = {(origin, timeframe): n for origin, timeframe, n in rows}
    signals = load_config(PROFILE).signals
    playbooks = {(f"rules:{pb.name}", pb.timeframe.value) for pb in signals.playbooks()}
    assert len(playbooks) == 12 and {tf for _, tf in playbooks} == {"1d", "1w"}
    statistics = ("stat:trend_strength", "stat:zscore_reversion", "stat:volatility_breakout")
    expected = playbooks | {(o, tf) for o in (*statistics, "ml:online") for tf in ("1d", "1w")}
    assert set(counts) == expected
    assert all(n > 0 for n in counts.values())


def test_fusion_decides_and_the_core_trades(stock_job: dict[str, Path]) -> None:
    report = json.loads(stock_job["report"].read_text())
    assert report["currency"] == "USD"
    assert report["decisions_by_band"].get("review", 0) > 0
    assert report["trades"] > 0 and report["fills"] > 0
    assert report["dead_lettered"] == 0
    assert stock_job["plot"].stat().st_size > 0
    quantities = _query(stock_job["store"], "SELECT quantity FROM fills")
    assert all(float(q) == int(float(q)) for (q,) in quantities)  # whole shares (lot 1)


def test_evaluate_scores_every_source(stock_job: dict[str, Path]) -> None:
    groups = {g["group"]: g for g in json.loads(stock_job["evaluate"].read_text())["groups"]}
    sources = {
        f"{origin}@{tf}"
        for origin, tf in _query(
            stock_job["store"], "SELECT DISTINCT origin, timeframe FROM signals"
        )
    }
    assert set(groups) == sources | {"fused", "fused:review"}
    assert all(g["resolved"] > 0 and g["brier"] is not None for g in groups.values())


# The README's Stocks figures (a pin in the style of test_default_run_pin.py).
README_FIGURES = {
    "decisions_by_band": {"ignore": 966, "review": 22},
    "trades": 8,
    "wins": 5,
    "fills": 21,
    "net_pnl": "1275.05000000",
    "fees_paid": "7.18",
    "slippage_cost": "17.45000000",
}
README_EVALUATE = {
    "fused": (970, 964, 0.507, 22.5, 0.264),
    "fused:review": (22, 22, 0.5, 159.0, 0.293),
    "stat:trend_strength@1d": (381, 381, 0.598, 68.9, 0.253),
    "ml:online@1d": (586, 585, 0.499, 12.8, 0.271),
    "stat:zscore_reversion@1d": (144, 144, 0.431, -13.5, 0.313),
}


def test_the_readme_figures(stock_job: dict[str, Path]) -> None:
    report = json.loads(stock_job["report"].read_text())
    assert {key: report[key] for key in README_FIGURES} == README_FIGURES
    groups = {g["group"]: g for g in json.loads(stock_job["evaluate"].read_text())["groups"]}
    observed = {
        name: (
            groups[name]["signals"],
            groups[name]["resolved"],
            round(groups[name]["hit_rate"], 3),
            round(groups[name]["avg_return_bps"], 1),
            round(groups[name]["brier"], 3),
        )
        for name in README_EVALUATE
    }
    assert observed == README_EVALUATE
