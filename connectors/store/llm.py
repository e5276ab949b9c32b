"""The assistant's tables: the model-answer cache, the usage ledger and the explanations.

* ``llm_cache``: one row per (model, template@version, input hash) key with the validated
  answer text; a repeated question is answered from here without a call;
* ``llm_usage``: one row per attempted call (ok or failed) with tokens and cost, which the
  per-day budgets sum;
* ``explanations``: the latest explanation of each fused decision.

Writes are idempotent upserts (same key → one row).

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from connectors.store.engine import open_store
>>> engine = open_store("sqlite://")
>>> store = LlmStore(engine)
>>> t = datetime(2022, 1, 5, 10, tzinfo=UTC)
>>> store.put_answer("k1", "m", '{"summary": "x"}', t)
>>> store.cached_answer("k1")
'{"summary": "x"}'
>>> store.record_usage("k1", "m", "ok", Decimal("0.25"), t)
>>> store.usage_on(t.date())
(1, Decimal('0.25'))
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, func, select
from sqlalchemy.engine import Engine

from connectors.store.engine import metadata, upsert
from schemas.common import datetime_to_ns, ns_to_datetime
from schemas.explain import Explanation

llm_cache = Table(
    "llm_cache",
    metadata,
    Column("call_key", String(64), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("answer", Text, nullable=False, comment="validated answer text"),
    Column("created_ns", BigInteger, nullable=False),
)

llm_usage = Table(
    "llm_usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_key", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("cost", String(40), nullable=False, comment="Decimal as text"),
    Column("ts_ns", BigInteger, nullable=False, index=True),
)

explanations = Table(
    "explanations",
    metadata,
    Column("fused_id", String(64), primary_key=True),
    Column("asset", String(64), nullable=False),
    Column("ts", BigInteger, nullable=False, comment="decision event time, ns (UTC)"),
    Column("decision", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("points", Text, nullable=False, comment="JSON list of strings"),
    Column("explainer", String(200), nullable=False),
    Column("input_hash", String(64), nullable=False),
    Column("fallback_reason", Text, nullable=True),
)


class LlmStore:
    """Cache, usage and explanations over one store engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[llm_cache, llm_usage, explanations])

    def cached_answer(self, call_key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(llm_cache.c.answer).where(llm_cache.c.call_key == call_key)
            ).scalar_one_or_none()

    def put_answer(self, call_key: str, model: str, answer: str, ts: datetime) -> None:
        row = {"call_key": call_key, "model": model, "answer": answer}
        upsert(self.engine, llm_cache, [{**row, "created_ns": datetime_to_ns(ts)}], ["call_key"])

    def record_usage(
        self, call_key: str, model: str, outcome: str, cost: Decimal, ts: datetime
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                llm_usage.insert(),
                [
                    {
                        "call_key": call_key,
                        "model": model,
                        "outcome": outcome,
                        "cost": str(cost),
                        "ts_ns": datetime_to_ns(ts),
                    }
                ],
            )

    def usage_on(self, day: date) -> tuple[int, Decimal]:
        """Calls attempted and money spent on ``day`` (UTC)."""
        start = datetime.combine(day, time(), UTC)
        window = (datetime_to_ns(start), datetime_to_ns(start + timedelta(days=1)))
        with self.engine.connect() as conn:
            calls = conn.execute(
                select(func.count()).where(llm_usage.c.ts_ns.between(window[0], window[1] - 1))
            ).scalar_one()
            costs = conn.execute(
                select(llm_usage.c.cost).where(llm_usage.c.ts_ns.between(window[0], window[1] - 1))
            ).scalars()
            spent = sum((Decimal(c) for c in costs), Decimal("0"))
        return int(calls), spent

    def put_explanation(self, explanation: Explanation) -> None:
        row = {
            "fused_id": explanation.fused_id,
            "asset": explanation.asset,
            "ts": datetime_to_ns(explanation.timestamp),
            "decision": explanation.decision,
            "summary": explanation.summary,
            "points": orjson.dumps(explanation.points).decode(),
            "explainer": explanation.explainer,
            "input_hash": explanation.input_hash,
            "fallback_reason": explanation.fallback_reason,
        }
        upsert(self.engine, explanations, [row], ["fused_id"])

    def explanation(self, fused_id: str) -> Explanation | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(explanations).where(explanations.c.fused_id == fused_id)
            ).first()
        return None if row is None else _explanation(row)

    def explained_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(explanations.c.fused_id)).scalars())


def _explanation(row: Any) -> Explanation:
    return Explanation(
        fused_id=row.fused_id,
        asset=row.asset,
        timestamp=ns_to_datetime(row.ts),
        decision=row.decision,
        summary=row.summary,
        points=orjson.loads(row.points),
        explainer=row.explainer,
        input_hash=row.input_hash,
        fallback_reason=row.fallback_reason,
    )
