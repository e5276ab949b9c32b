"""The issue's performance targets, checked against a report (a benchmark reports, never asserts).

>>> rows = evaluate_targets({"throughput": [], "scale": [], "latency": [], "nautilus": {}})
>>> {row["status"] for row in rows}, len(rows)
({'not measured'}, 12)
"""

from __future__ import annotations

from typing import Any

KIB = 1024


def _row(
    target: str,
    measured: float | None,
    unit: str,
    goal: float,
    higher_is_better: bool,
    note: str = "",
) -> dict[str, Any]:
    if measured is None:
        status = "not measured"
    else:
        met = measured >= goal if higher_is_better else measured <= goal
        status = "met" if met else f"missed ({measured / goal:.2f}× the target)"
    return {
        "target": target,
        "goal": goal,
        "measured": measured,
        "unit": unit,
        "status": status,
        "note": note,
    }


def _month_rate(report: dict[str, Any], stage: str, key: str = "throughput") -> float | None:
    for row in report.get(key, []):
        if row["stage"] == stage and not row["store"]:
            return float(row["per_s"])
    return None


def _vectorized_ratio(report: dict[str, Any], key: str) -> float | None:
    rows = report.get(key, [])
    full = _month_rate(report, "full", key)
    if full is None or not rows or "candles" in rows[-1]:
        return None
    return full / float(rows[-1]["per_s"])


def _backtest_rate(report: dict[str, Any]) -> float | None:
    rows = [r for r in report.get("backtest", []) if r["stage"] == "full"]
    return float(rows[0]["per_s"]) if rows else None


def _peak_rss(report: dict[str, Any], symbols: int) -> float | None:
    points = [p for p in report["scale"] if p["symbols"] == symbols]
    return float(points[0]["peak_rss_bytes"]) if points else None


def _p99(report: dict[str, Any], stage: str, record: str, rate: float) -> float | None:
    for row in report["latency"]:
        if (row["stage"], row["record"], row["offered_trades_per_s"]) == (stage, record, rate):
            return float(row["p99_ms"])
    return None


def _state(report: dict[str, Any]) -> float | None:
    values = [point["state_bytes_per_symbol"] for point in report["scale"]]
    return max(values) if values else None


def _nautilus_ratio(report: dict[str, Any]) -> float | None:
    comparison = report["nautilus"]
    quorum = _month_rate(report, "features")
    if "trades" not in comparison or quorum is None:
        return None
    return quorum / comparison["trades"]["per_s"]


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: goal, measured value, met or missed by how much."""
    full = _month_rate(report, "full")
    dense = _month_rate(report, "full", "throughput_dense")
    return [
        _row("end to end, trades/s per core (BTC month, full flow)", full, "trades/s", 1e6, True),
        _row("stretch: 2M trades/s per core end to end", full, "trades/s", 2e6, True),
        _row(
            "end to end at realistic density (~200 trades per bar), trades/s per core",
            dense,
            "trades/s",
            1e6,
            True,
        ),
        _row(
            "full flow / vectorized pass, same run (4 per bar)",
            _vectorized_ratio(report, "throughput"),
            "×",
            0.2,
            True,
        ),
        _row(
            "full flow / vectorized pass, same run (realistic density)",
            _vectorized_ratio(report, "throughput_dense"),
            "×",
            0.2,
            True,
        ),
        _row("full flow on the real 1m bars", _backtest_rate(report), "bars/s", 3e5, True),
        _row(
            "p99 trade → fused signal at 100k trades/s (full flow, via the trading core)",
            _p99(report, "full", "fused signal", 100_000.0),
            "ms",
            1.0,
            False,
        ),
        _row(
            "p99 trade → fused signal at 20k trades/s (full flow, via the trading core)",
            _p99(report, "full", "fused signal", 20_000.0),
            "ms",
            2.0,
            False,
        ),
        _row(
            "p99 trade → fused signal at 20k trades/s (signals stage: fusion output)",
            _p99(report, "signals", "fused signal", 20_000.0),
            "ms",
            2.0,
            False,
        ),
        _row("state per symbol (worst N measured)", _state(report), "bytes", 32 * KIB, False),
        _row("peak RSS at 10,000 symbols", _peak_rss(report, 10_000), "bytes", 2 * 2**30, False),
        _row(
            "× NautilusTrader on the shared work (from trades)",
            _nautilus_ratio(report),
            "×",
            10.0,
            True,
        ),
    ]
