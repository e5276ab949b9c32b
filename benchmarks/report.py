"""The harness report as rich tables: one per figure, each saying which data it used.

>>> import io
>>> from rich.console import Console
>>> console = Console(width=200, record=True, file=io.StringIO())
>>> render({"machine": {"cpu": "X", "cores": 2, "python": "3.11.7"}, "throughput": [],
...         "scale": [], "latency": [], "backtest": [], "nautilus": {"skipped": "not here"},
...         "targets": []}, console)
>>> "NautilusTrader: skipped — not here" in console.export_text()
True
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table


def _rate(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def _ms(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.2f}"


def _kib(value: float) -> str:
    return f"{value / 1024:,.1f} KiB"


def _run_peak(point: dict[str, Any], run: str) -> str:
    """One run's own peak RSS (reports written before runs were weighed apart have none)."""
    peak = point.get("peak_rss_by_run", {}).get(run)
    return _mib(peak) if peak is not None else "—"


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


def _throughput(report: dict[str, Any], console: Console, key: str = "throughput") -> None:
    rows = report.get(key, [])
    if not rows:
        return
    table = _table(
        f"1. Throughput, trades/s per core — data: {rows[0]['data']}",
        "pipeline",
        "median s",
        "trades/s",
        "candles/s",
    )
    quorum_features = None
    for row in rows:
        store = " + SQLite store" if row["store"] else ""
        name = f"Quorum flow → {row['stage']}{store}" if "candles" in row else row["stage"]
        if row["stage"] == "features" and not row["store"]:
            quorum_features = row["per_s"]
        table.add_row(
            name, f"{row['median_s']:.3f}", _rate(row["per_s"]), _rate(row.get("candles_per_s"))
        )
    console.print(table)
    baseline = rows[-1]
    if quorum_features is not None and "candles" not in baseline:
        full = next((r["per_s"] for r in rows if r["stage"] == "full" and not r["store"]), None)
        console.print(
            f"Quorum (features stage) / vectorized pass: {quorum_features / baseline['per_s']:.2f}"
            + (
                ""
                if full is None
                else f"; full flow / vectorized pass: {full / baseline['per_s']:.3f}"
            )
        )


def _scale(report: dict[str, Any], console: Console) -> None:
    points = report["scale"]
    if not points:
        return
    stages = list(points[0]["stages"])
    table = _table(
        "1+3. Scale — derived trades (4 per real 1m bar of the BTC month) replicated to N symbols"
        " (one process per N)",
        "N symbols",
        "bars/symbol",
        "trades",
        "batch rows",
        *[f"{s} trades/s" for s in stages],
        "RSS before flows",
        *[f"peak RSS {s}" for s in stages],
        "peak RSS full with recovery",
        "peak RSS",
        "state/symbol",
    )
    for p in points:
        table.add_row(
            f"{p['symbols']:,}",
            f"{p['bars_per_symbol']:,}",
            f"{p['trades']:,}",
            f"{p['batch_size']:,}",
            *[_rate(p["stages"][s]["per_s"]) for s in stages],
            _mib(p["rss_before_flows_bytes"]),
            *[_run_peak(p, s) for s in (*stages, "full with recovery")],
            _mib(p["peak_rss_bytes"]),
            _kib(p["state_bytes_per_symbol"]),
        )
    console.print(table)
    steps = _table(
        "3. State per symbol by step (pickled snapshot Bytewax persists), mean bytes",
        "N symbols",
        *[s["step"] + (" (shared)" if s["shared"] else "") for s in points[0]["state_by_step"]],
    )
    for p in points:
        steps.add_row(f"{p['symbols']:,}", *[f"{s['mean_bytes']:,.0f}" for s in p["state_by_step"]])
    console.print(steps)


def _latency(report: dict[str, Any], console: Console) -> None:
    rows = report["latency"]
    if not rows:
        return
    table = _table(
        "2. Latency: trade leaving the source → record at the flow's output (paced replay of "
        "the BTC month's derived trades, 1 symbol)",
        "offered/s",
        "achieved/s",
        "flow",
        "record",
        "samples",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "trades/batch",
    )
    for row in rows:
        table.add_row(
            _rate(row["offered_trades_per_s"]),
            _rate(row["achieved_trades_per_s"]),
            row["stage"],
            row["record"],
            f"{row['samples']:,}",
            _ms(row["p50_ms"]),
            _ms(row["p99_ms"]),
            _ms(row["p999_ms"]),
            f"{row['trades_per_batch']:,.0f}",
        )
    console.print(table)


def _backtest(report: dict[str, Any], console: Console) -> None:
    rows = report["backtest"]
    nautilus = report["nautilus"]
    if not rows:
        return
    table = _table(
        f"4. Backtest speed — data: {rows[0]['data']}",
        "system / work",
        "median s",
        "1m bars/s",
        "candles built/s",
    )
    for row in rows:
        table.add_row(
            f"Quorum flow → {row['stage']}",
            f"{row['median_s']:.3f}",
            _rate(row["per_s"]),
            _rate(row["candles_per_s"]),
        )
    if "bars" in nautilus:
        n = nautilus["bars"]
        table.add_row(
            f"NautilusTrader {nautilus['version']}: bars 1m→4h + EMA/RSI/ATR/MACD",
            f"{n['median_s']:.3f}",
            _rate(n["per_s"]),
            "",
        )
    console.print(table)


def _nautilus(report: dict[str, Any], console: Console) -> None:
    comparison = report["nautilus"]
    if "skipped" in comparison:
        console.print(f"NautilusTrader: skipped — {comparison['skipped']}")
        return
    quorum = {
        "bars": next((r["per_s"] for r in report["backtest"] if r["stage"] == "features"), None),
        "trades": next(
            (
                r["per_s"]
                for r in report["throughput"]
                if r["stage"] == "features" and not r["store"]
            ),
            None,
        ),
    }
    table = _table(
        "Shared work (candles 1m…4h + EMA/RSI/ATR/MACD): Quorum feature stage vs "
        f"NautilusTrader {comparison['version']} BacktestEngine",
        "input",
        "Quorum /s",
        "Nautilus /s",
        "ratio",
        "same candles & indicators",
    )
    for kind in ("bars", "trades"):
        n = comparison[kind]
        ratio = quorum[kind] / n["per_s"] if quorum[kind] else float("nan")
        table.add_row(
            f"{kind}: {n['data']}",
            _rate(quorum[kind]),
            _rate(n["per_s"]),
            f"{ratio:.1f}×",
            "yes" if n["agrees"] else "NO",
        )
    console.print(table)
    for kind in ("bars", "trades"):
        for a in comparison[kind]["agreement"]:
            worst = max(a["max_deviation"].values()) if a["max_deviation"] else 0.0
            console.print(
                f"  check {kind} {a['timeframe']}: {a['common_candles']:,} common candles "
                f"{'equal' if a['candles_equal'] else 'DIFFER'}; indicators on "
                f"{a['indicator_rows']:,} rows after the seed decayed, worst deviation {worst:.1e}"
            )


def _targets(report: dict[str, Any], console: Console) -> None:
    table = _table("Targets", "target", "goal", "measured", "status")
    for row in report["targets"]:
        measured = row["measured"]
        shown = "—" if measured is None else f"{measured:,.3g} {row['unit']}"
        table.add_row(row["target"], f"{row['goal']:,.3g} {row['unit']}", shown, row["status"])
    console.print(table)


def _workers(report: dict[str, Any], console: Console) -> None:
    figure = report.get("workers") or {}
    if not figure:
        return
    table = _table(
        f"5. Workers, whole flow, {figure['portfolios']} portfolios — data: {figure['data']}",
        "cluster",
        "wall s",
        "with start-up s",
        "CPU s",
        "trades/s",
    )
    for key, name in (("one_worker", "1 worker"), ("two_workers", "2 processes × 1 worker")):
        run = figure[key]
        start_up = run.get("with_start_up_seconds")
        table.add_row(
            name,
            f"{run['seconds']:.2f}",
            "—" if start_up is None else f"{start_up:.2f}",
            f"{run['cpu_seconds']:.2f}",
            _rate(run["per_s"]),
        )
    console.print(table)
    console.print(f"speed-up 2 vs 1 worker: {figure['speed_up']:.2f}× (aim {figure['aim']}×)")
    if "balance_bound" in figure:  # reports from before the placement work lack it
        split = " / ".join(str(n) for n in figure["symbols_per_worker"])
        console.print(
            f"symbols per worker {split}: {figure['balance_bound']:.2f}× if the larger share "
            "set the time and nothing else changed"
        )


def _kafka(report: dict[str, Any], console: Console) -> None:
    figure = report.get("kafka") or {}
    if not figure:
        return
    if "skipped" in figure:
        console.print(f"6. Kafka: skipped — {figure['skipped']}")
        return
    table = _table(
        f"6. Kafka (local Tansu broker) — data: {figure['data']}",
        "path",
        "wall s",
        "CPU s",
        "per s",
    )
    for name, run in (
        ("Bytewax KafkaSource → KafkaSink (messages)", figure["pass_through"]),
        ("input topic → full flow → output topics (trades)", figure["full_flow"]),
    ):
        cpu = run.get("cpu_seconds")
        shown = "—" if cpu is None else f"{cpu:.2f}"
        table.add_row(name, f"{run['seconds']:.2f}", shown, _rate(run["per_s"]))
    console.print(table)
    paced = figure["latency"]
    console.print(
        f"trade → fused signal at a consumer, {paced['offered_per_s']:,.0f} trades/s offered: "
        f"p50 {_ms(paced['p50_ms'])} ms, p99 {_ms(paced['p99_ms'])} ms, "
        f"p99.9 {_ms(paced['p999_ms'])} ms ({paced['fused_signals']} signals)"
    )


def render(report: dict[str, Any], console: Console) -> None:
    """Print every figure of ``report`` (see :func:`benchmarks.harness.run`)."""
    machine = report["machine"]
    console.print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"load average {machine.get('load_average', '—')}; one Bytewax worker (per core) but "
        "in figure 5"
    )
    _throughput(report, console)
    _throughput(report, console, "throughput_dense")
    _scale(report, console)
    _latency(report, console)
    _backtest(report, console)
    _nautilus(report, console)
    _workers(report, console)
    _kafka(report, console)
    _targets(report, console)
