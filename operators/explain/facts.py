"""The facts an explanation is built from: one plain JSON-able mapping per decision.

Both explainers (the deterministic template and a language model) read the same facts: the
fused decision (score, band, consensus, conflict, veto, reasons), each source's contribution,
the pre-execution guards' verdicts on orders it caused, recent candles of the asset and the
review status. Building them is pure; reading them from a store is the caller's job.

>>> from datetime import UTC, datetime
>>> from schemas.signals import Contribution, Decision, FusedSignal
>>> fused = FusedSignal(fused_id="f1", asset="BTC-PERP", timestamp=datetime(2022, 1, 5, tzinfo=UTC),
...     score=0.62, direction="long", decision=Decision.REVIEW, contributions=[Contribution(
...     origin="rules:rsi", timeframe="15m", direction="long", confidence=0.8, weight=1.2,
...     signed=0.8, share=0.62, signal_id="s1")])
>>> facts = decision_facts(fused, candles=[Bar(0, 10, 11, 9, 10.5, 3.0)], candles_timeframe="1h")
>>> facts["contributions"][0]["source"], facts["recent_candles"]["change_pct"]
('rules:rsi@15m', 5.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.common import ns_to_datetime
from schemas.signals import FusedSignal

MAX_CONTRIBUTIONS = 8
MAX_BARS = 6


@dataclass(frozen=True, slots=True)
class Bar:
    """One recent candle: open time (ns) and OHLCV."""

    ts_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """A pre-execution guard's verdict on an order the decision caused."""

    approved: bool
    reason: str
    detail: str


def _round(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}") if value == value else value


def decision_facts(
    fused: FusedSignal,
    *,
    candles: Sequence[Bar] = (),
    candles_timeframe: str | None = None,
    guards: Sequence[GuardVerdict] = (),
    review_status: str | None = None,
) -> dict[str, Any]:
    """The facts of one fused decision (see the module docstring), ready to render or send."""
    contributions = sorted(fused.contributions, key=lambda c: (-abs(c.share), c.signal_id))
    facts: dict[str, Any] = {
        "fused_id": fused.fused_id,
        "asset": fused.asset,
        "time": fused.timestamp.isoformat(),
        "decision": fused.decision.value,
        "direction": fused.direction.value,
        "score": round(fused.score, 4),
        "consensus": round(fused.consensus, 4),
        "timeframe_scores": {k: round(v, 4) for k, v in fused.timeframe_scores.items()},
        "conflict": fused.conflict,
        "veto": fused.veto,
        "reasons": list(fused.reasons),
        "contributions": [
            {
                "source": f"{c.origin}@{c.timeframe.value}",
                "direction": c.direction.value,
                "confidence": round(c.confidence, 4),
                "weight": round(c.weight, 4),
                "share": round(c.share, 4),
            }
            for c in contributions[:MAX_CONTRIBUTIONS]
        ],
        "guards": [
            {"approved": g.approved, "reason": g.reason, "detail": g.detail} for g in guards
        ],
        "review": review_status,
    }
    bars = list(candles)[-MAX_BARS:]
    if bars:
        first, last = bars[0], bars[-1]
        facts["recent_candles"] = {
            "timeframe": candles_timeframe,
            "bars": [
                {
                    "open_time": ns_to_datetime(b.ts_ns).isoformat(),
                    "open": _round(b.open, 8),
                    "high": _round(b.high, 8),
                    "low": _round(b.low, 8),
                    "close": _round(b.close, 8),
                    "volume": _round(b.volume, 6),
                }
                for b in bars
            ],
            "change_pct": round((last.close / first.open - 1) * 100, 3) if first.open else None,
            "high": _round(max(b.high for b in bars), 8),
            "low": _round(min(b.low for b in bars), 8),
        }
    return facts
