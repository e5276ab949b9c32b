"""The issue's performance targets, checked against a report (a benchmark reports, never asserts).

>>> rows = evaluate_targets({"throughput": [], "scale": [], "latency": [], "nautilus": {}})
>>> [row["status"] for row in rows]
['not measured', 'not measured', 'not measured', 'not measured', 'not measured', 'not measured']
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


def _month_rate(report: dict[str, Any], stage: str) -> float | None:
    for row in report["throughput"]:
        if row["stage"] == stage and not row["store"]:
            return float(row["per_s"])
    return None


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
    return [
        _row("end to end, trades/s per core (BTC month, full flow)", full, "trades/s", 1e6, True),
        _row("stretch: 2M trades/s per core end to end", full, "trades/s", 2e6, True),
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
        _row("state per symbol (worst N measured)", _state(report), "bytes", 64 * KIB, False),
        _row(
            "× NautilusTrader on the shared work (from trades)",
            _nautilus_ratio(report),
            "×",
            10.0,
            True,
        ),
    ]
