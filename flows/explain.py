"""The explanation job: explain stored decisions, off the hot path.

It runs after a flow (``quorum run`` calls it once the replay is done) or on its own
(``quorum explain``) over any store: it reads each chosen fused decision with its review,
the guards' verdicts on the orders it caused and the recent closed candles of its asset,
explains it (:class:`~operators.explain.explainer.Explainer`: the language model when
``llm.model`` is configured, the deterministic template otherwise) and stores the explanation.
The trading core never waits for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from api.reads.signals import fused_detail
from connectors.llm.config import LlmConfig
from connectors.llm.factory import build_assistant
from connectors.store.llm import LlmStore
from connectors.store.market import candles
from connectors.store.signals import fused_signals
from connectors.store.trading import order_intents, risk_decisions
from operators.explain.explainer import Explainer
from operators.explain.facts import Bar, GuardVerdict, decision_facts
from schemas.common import Timeframe, datetime_to_ns
from schemas.explain import Explanation

if TYPE_CHECKING:
    from rich.console import Console

    from flows.config import QuorumConfig

CANDLE_PREFERENCE = (Timeframe.H1, Timeframe.M15, Timeframe.H4, Timeframe.M5, Timeframe.M1)


def build_explainer(config: LlmConfig, engine: Engine) -> Explainer:
    """The template explainer, or the model behind the assistant's guarded path."""
    if not config.enabled:
        return Explainer()
    return Explainer(build_assistant(config, engine))


def _recent_bars(conn: Connection, asset: str, until_ns: int) -> tuple[list[Bar], str | None]:
    for timeframe in CANDLE_PREFERENCE:
        rows = conn.execute(
            select(candles)
            .where(
                candles.c.symbol == asset,
                candles.c.timeframe == timeframe.value,
                candles.c.ts <= until_ns - timeframe.ns,  # closed at the decision time
            )
            .order_by(candles.c.ts.desc())
            .limit(6)
        ).all()
        if rows:
            bars = [
                Bar(r.ts, r.open, r.high, r.low, r.close, r.volume or 0.0) for r in reversed(rows)
            ]
            return bars, timeframe.value
    return [], None


def _guards(conn: Connection, fused_id: str) -> list[GuardVerdict]:
    rows = conn.execute(
        select(risk_decisions.c.approved, risk_decisions.c.reason, risk_decisions.c.detail)
        .join(order_intents, order_intents.c.intent_id == risk_decisions.c.intent_id)
        .where(order_intents.c.fused_id == fused_id)
        .order_by(risk_decisions.c.timestamp)
    ).all()
    return [GuardVerdict(bool(r.approved), r.reason, r.detail) for r in rows]


def facts_of(conn: Connection, fused_id: str) -> dict | None:
    """The facts of a stored decision, or ``None`` when the store does not know it."""
    detail = fused_detail(conn, fused_id)
    if detail is None:
        return None
    bars, timeframe = _recent_bars(conn, detail.asset, datetime_to_ns(detail.timestamp))
    return decision_facts(
        detail,
        candles=bars,
        candles_timeframe=timeframe,
        guards=_guards(conn, fused_id),
        review_status=detail.review.status if detail.review else None,
    )


def explain_one(engine: Engine, explainer: Explainer, fused_id: str) -> Explanation | None:
    """Explain one stored decision and store the explanation (``None``: unknown id)."""
    with engine.connect() as conn:
        facts = facts_of(conn, fused_id)
    if facts is None:
        return None
    explanation = explainer.explain(facts)
    LlmStore(engine).put_explanation(explanation)
    return explanation


def decisions_to_explain(engine: Engine, bands: Sequence[str] = ("review",)) -> list[str]:
    """Stored decisions in ``bands`` without an explanation yet, oldest first."""
    done = LlmStore(engine).explained_ids()
    with engine.connect() as conn:
        ids = conn.execute(
            select(fused_signals.c.fused_id)
            .where(fused_signals.c.decision.in_(list(bands)))
            .order_by(fused_signals.c.ts, fused_signals.c.fused_id)
        ).scalars()
        return [i for i in ids if i not in done]


def explain_all(
    engine: Engine, explainer: Explainer, fused_ids: Iterable[str]
) -> list[Explanation]:
    """Explain each decision of ``fused_ids`` (unknown ids are skipped)."""
    out = []
    for fused_id in fused_ids:
        explanation = explain_one(engine, explainer, fused_id)
        if explanation is not None:
            out.append(explanation)
    return out


@dataclass
class DaySummary:
    """One UTC day of decisions that needed a person, with their explanations."""

    day: date
    explanations: list[Explanation] = field(default_factory=list)
    explainers: Counter[str] = field(default_factory=Counter)


def daily_summary(explanations: Iterable[Explanation]) -> list[DaySummary]:
    """The explanations grouped by the UTC day of their decision, oldest day first."""
    days: dict[date, DaySummary] = {}
    for item in sorted(explanations, key=lambda e: (e.timestamp, e.fused_id)):
        day = days.setdefault(item.timestamp.date(), DaySummary(item.timestamp.date()))
        day.explanations.append(item)
        day.explainers[item.explainer] += 1
    return list(days.values())


def render_daily_summary(days: Sequence[DaySummary], console: Console) -> None:
    """Print the daily summary (rich console): each day's REVIEW decisions, one line each."""
    if not days:
        console.print("Daily summary: no decision needed a person.")
        return
    console.print("[bold]Daily summary[/] (decisions that needed a person, explained)")
    for day in days:
        used = ", ".join(f"{n} {name}" for name, n in sorted(day.explainers.items()))
        console.print(f"  [bold]{day.day.isoformat()}[/] — {len(day.explanations)} ({used})")
        for item in day.explanations:
            console.print(f"    • {item.summary}", highlight=False)


def summary_json(days: Sequence[DaySummary]) -> list[dict[str, object]]:
    """The daily summary for ``report.json``."""
    return [
        {
            "day": day.day.isoformat(),
            "explanations": [e.model_dump(mode="json") for e in day.explanations],
        }
        for day in days
    ]


def explain_reviews(
    events: Iterable[object], config: QuorumConfig, store: str, run_id: str | None = None
) -> list[DaySummary]:
    """After a run: explain its REVIEW decisions (a separate step; the flow has finished).

    The decisions come from ``events``, or, for a run no single process saw whole (``run_id``
    given: resumed from recovery, or run by a cluster), from the store's unexplained ones.
    """
    from connectors.store.engine import open_store
    from schemas.signals import Decision, FusedSignal

    ids = list(
        dict.fromkeys(
            e.fused_id
            for e in events
            if isinstance(e, FusedSignal) and e.decision is Decision.REVIEW
        )
    )
    engine = open_store(store)
    try:
        if run_id is not None:  # decisions are stored once per id, not per run
            ids = decisions_to_explain(engine, (Decision.REVIEW.value,))
        return daily_summary(explain_all(engine, build_explainer(config.llm, engine), ids))
    finally:
        engine.dispose()
