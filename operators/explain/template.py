"""The deterministic explainer: the same facts give the same words, with no model at all.

This is what the product uses when no language model is configured, and what stands in when a
configured one fails or is over budget.

>>> facts = {"asset": "BTC-PERP", "time": "2022-01-05T10:00:00+00:00", "decision": "review",
...          "direction": "long", "score": 0.62, "consensus": 0.5, "conflict": False,
...          "veto": None, "reasons": [], "guards": [], "review": "approved",
...          "contributions": [{"source": "rules:rsi@15m", "direction": "long",
...                             "confidence": 0.8, "weight": 1.2, "share": 0.62}]}
>>> draft = template_explanation(facts)
>>> draft.summary
'REVIEW long BTC-PERP at 2022-01-05 10:00 UTC: fused score +0.620 from 1 source;
 rules:rsi@15m weighs most (+0.620).'
>>> draft.points[-1]
'Review: approved.'
"""

from __future__ import annotations

from typing import Any

from operators.explain.outputs import ExplanationDraft


def _when(iso: str) -> str:
    return iso.replace("T", " ")[:16] + " UTC"


def template_explanation(facts: dict[str, Any]) -> ExplanationDraft:
    """Summary and points of a decision from its facts (see :mod:`operators.explain.facts`)."""
    contributions = facts.get("contributions") or []
    head = (
        f"{facts['decision'].upper()} {facts['direction']} {facts['asset']} at "
        f"{_when(facts['time'])}: fused score {facts['score']:+.3f}"
    )
    if contributions:
        top = contributions[0]
        plural = "s" if len(contributions) != 1 else ""
        summary = (
            f"{head} from {len(contributions)} source{plural}; {top['source']} weighs most "
            f"({top['share']:+.3f})."
        )
    else:
        summary = f"{head}: no live signal counted."
    points = [
        f"{c['source']}: {c['direction']} {c['confidence']:.2f} × weight {c['weight']:.2f} → "
        f"{c['share']:+.3f} of the score"
        for c in contributions[:3]
    ]
    if facts.get("veto"):
        points.append(f"Veto: {facts['veto']}.")
    if facts.get("conflict"):
        points.append("Conflicting sources with high confidence on both sides.")
    guards = facts.get("guards") or []
    refused = [g for g in guards if not g["approved"]]
    if refused:
        points.append(
            "Guards refused: " + "; ".join(f"{g['reason']} ({g['detail']})" for g in refused[:2])
        )
    elif guards:
        points.append(f"Guards approved {len(guards)} order intent(s).")
    candles = facts.get("recent_candles")
    if candles and candles.get("change_pct") is not None:
        bars = candles["bars"]
        points.append(
            f"Last {len(bars)} {candles['timeframe']} candles: close {bars[-1]['close']:g}, "
            f"{candles['change_pct']:+.2f} % since {_when(bars[0]['open_time'])}, "
            f"range {candles['low']:g}–{candles['high']:g}."
        )
    if facts.get("review"):
        points.append(f"Review: {facts['review']}.")
    return ExplanationDraft(summary=summary, points=points[:6])
