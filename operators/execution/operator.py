"""Bytewax wrapper of the trading core: one stateful step keyed by portfolio id.

Every input (fused signals, candle and feature batches, quotes, manual actions) is routed to
the portfolios it concerns (:class:`~operators.portfolio.portfolios.PortfolioRouting`: an
asset's data and decisions to every portfolio trading it) and keyed by their id, so each
portfolio's :class:`~operators.execution.engine.TradingEngine` sees its inputs on one worker,
in event-time order, and different portfolios spread over the workers. Outputs leave unkeyed,
in each core's processing order (the audit order). The state snapshot is the pickled engine,
so a resumed flow continues with the same positions, working orders, breakers and buffered
input. A resumed flow keeps the configuration it ran with, risk limits changed by the control
room included (part of the state); control settings reach every portfolio's engine.

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

from operators.control.state import ControlSettings
from operators.execution.engine import TradingEngine
from operators.execution.engine_state import TradingEvent
from operators.execution.trading_config import TradingConfig
from operators.portfolio.portfolios import PortfolioSet, resolve_portfolios
from operators.portfolio.routing import PortfolioRouting
from schemas.batches import CandleBatch, FeatureBatch
from schemas.market import BookTop, FeedHealth
from schemas.signals import FusedSignal, FusionProgress
from schemas.venue import VenueReport


class TradingLogic(StatefulBatchLogic[Any, TradingEvent, bytes]):
    """Feeds each batch of one portfolio's items to its engine; flushes it at the end of the
    input. Bytewax does not tell a logic its key, so every value arrives as ``(portfolio id,
    item)`` and the engine is built on the first batch."""

    def __init__(self, portfolios: PortfolioSet, resume_state: bytes | None) -> None:
        self.portfolios = portfolios
        self.engine: TradingEngine | None = (
            pickle.loads(resume_state) if resume_state is not None else None
        )

    def on_batch(self, values: list[tuple[str, Any]]) -> tuple[Iterable[TradingEvent], bool]:
        if self.engine is None:
            portfolio = values[0][0]
            self.engine = TradingEngine(
                self.portfolios.config_of(portfolio),
                portfolio=portfolio,
                routing=self.portfolios.routing,
            )
        return self.engine.process(values), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[TradingEvent], bool]:
        return ([] if self.engine is None else self.engine.flush()), StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps(self.engine, protocol=pickle.HIGHEST_PROTOCOL)


def portfolios_of(item: Any, routing: PortfolioRouting) -> tuple[str, ...]:
    """The ids of the portfolios ``item`` concerns.

    >>> from operators.portfolio.portfolios import PortfolioSpec
    >>> routing = resolve_portfolios(TradingConfig(), [PortfolioSpec(id="a", assets=("X",)),
    ...                                                PortfolioSpec(id="b")]).routing
    >>> bars = CandleBatch.from_columns("X", "1m", [0], [1.0], [1.0], [1.0], [1.0], [1.0])
    >>> portfolios_of(bars, routing), portfolios_of(bars.__class__.from_columns(
    ...     "Y", "1m", [0], [1.0], [1.0], [1.0], [1.0], [1.0]), routing)
    (('a', 'b'), ('b',))
    """
    if isinstance(item, ControlSettings):  # the control room's settings apply to every book
        return routing.ids
    if isinstance(item, FusedSignal | FusionProgress):
        return routing.signal_targets(item.asset)
    if isinstance(item, CandleBatch | FeatureBatch | BookTop | FeedHealth):
        return routing.targets_of_asset(item.symbol)
    symbol = getattr(item, "symbol", None)  # data-quality findings
    if isinstance(symbol, str):
        return routing.targets_of_asset(symbol)
    if isinstance(item, VenueReport):  # our order ids carry a non-default portfolio's id
        scoped = item.order_id.removeprefix("ord:").split(":", 1)[0]
        return (scoped,) if scoped in routing.ids else routing.ids[:1]
    target = getattr(item, "portfolio", None)  # manual actions: one portfolio or every one
    if target is None and hasattr(item, "portfolio"):
        return routing.ids
    return (target,) if target in routing.ids else routing.ids[:1]


@operator
def trading_core(
    step_id: str, up: Stream[Any], config: TradingConfig | PortfolioSet
) -> Stream[TradingEvent]:
    """Run the trading core of every portfolio over ``up`` (a :class:`TradingConfig` is the
    single default portfolio); returns their outputs (records, see the engine)."""
    portfolios = config if isinstance(config, PortfolioSet) else resolve_portfolios(config, ())
    routing = portfolios.routing

    def route(item: Any) -> list[tuple[str, Any]]:
        return [(portfolio, (portfolio, item)) for portfolio in portfolios_of(item, routing)]

    keyed = op.flat_map("route", up, route)
    out = op.stateful_batch("engine", keyed, lambda resume: TradingLogic(portfolios, resume))
    return op.key_rm("unkey", out)
