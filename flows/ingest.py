"""The ingest-only flow: exchange data straight to Kafka, processed elsewhere.

``quorum live … --kafka BOOTSTRAP --ingest-only`` runs this instead of the whole flow: whatever
the source emits (trade and candle batches, quotes, feed health, dead letters) is published,
one message per row, to ``quorum.v1.trades`` / ``quorum.v1.candles`` / ``quorum.v1.quotes`` / …
A separate ``quorum run --source kafka://BOOTSTRAP/quorum.v1.trades`` processes it.
"""

from __future__ import annotations

from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source

from connectors.kafka.sink import KafkaSink, publish
from flows.summary import RunStats
from schemas.batches import CandleBatch, TradeBatch


def _count_into(stats: RunStats) -> Any:
    def count(item: Any) -> None:
        if isinstance(item, TradeBatch):
            stats.count("ingested:trades", len(item))
        elif isinstance(item, CandleBatch):
            stats.count(f"ingested:candles {item.timeframe.value}", len(item))

    return count


def build_ingest_flow(
    source: Source[Any], sink: KafkaSink, stats: RunStats | None = None, flow_id: str = "ingest"
) -> Dataflow:
    """``source`` → Kafka, nothing else (see the module docstring)."""
    flow = Dataflow(flow_id)
    items = op.input("source", flow, source)
    if stats is not None:
        items = op.inspect("count", items, lambda _step, item: _count_into(stats)(item))
    publish("kafka", items, sink)
    return flow
