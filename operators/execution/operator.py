"""Bytewax wrapper of the trading core: one stateful step on a single key over the merged stream.

Every input (fused signals, candle and feature batches, quotes, manual actions) is keyed
``"portfolio"`` so one :class:`~operators.execution.engine.TradingEngine` sees them all, on
one worker, in event-time order; its outputs leave unkeyed, in the core's processing order
(the audit order). The state snapshot is the pickled engine, so a resumed flow continues with
the same positions, working orders, breakers and buffered input. A resumed flow keeps the
configuration it ran with, risk limits changed by the control room included (part of the state).

>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSink, TestingSource, run_main
>>> from operators.execution.trading_config import TradingConfig
>>> from schemas.batches import CandleBatch
>>> flow = Dataflow("trading_doc")
>>> bars = CandleBatch.from_columns("A/B", "1m", [0, 60_000_000_000], [1.0, 1.0], [1.0, 1.0],
...                                 [1.0, 1.0], [1.0, 1.0], [10.0, 10.0])
>>> out = []
>>> op.output("out", trading_core("trading", op.input("in", flow, TestingSource([bars])),
...                                TradingConfig()), TestingSink(out))
>>> run_main(flow)
>>> [type(e).__name__ for e in out]
['EquityPoint', 'TradingSummary']
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from operators.execution.engine import TradingEngine, TradingEvent
from operators.execution.trading_config import TradingConfig

PORTFOLIO_KEY = "portfolio"


class TradingLogic(StatefulBatchLogic[Any, TradingEvent, bytes]):
    """Feeds each batch of items to the engine; flushes it at the end of the input."""

    def __init__(self, config: TradingConfig, resume_state: bytes | None) -> None:
        self.engine: TradingEngine = (
            pickle.loads(resume_state) if resume_state is not None else TradingEngine(config)
        )

    def on_batch(self, values: list[Any]) -> tuple[Iterable[TradingEvent], bool]:
        return self.engine.process(values), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[TradingEvent], bool]:
        return self.engine.flush(), StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps(self.engine, protocol=pickle.HIGHEST_PROTOCOL)


@operator
def trading_core(step_id: str, up: Stream[Any], config: TradingConfig) -> Stream[TradingEvent]:
    """Run the trading core over ``up``; returns its outputs (records, see the engine)."""
    keyed = op.key_on("key", up, lambda _item: PORTFOLIO_KEY)
    out = op.stateful_batch("engine", keyed, lambda resume: TradingLogic(config, resume))
    return op.key_rm("unkey", out)
