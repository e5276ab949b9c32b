"""Several portfolios in one run: their configuration and which of them sees which input.

A run trades one or more portfolios (``portfolios:`` in the configuration), each with its own
id, the assets it trades (empty: every asset), its starting capital and optional overrides of
the ``trading.risk`` limits. Without that section the run trades ONE portfolio, id
:data:`~schemas.common.DEFAULT_PORTFOLIO`, built from ``trading:`` alone, exactly as before.

The trading core is keyed by portfolio id (:func:`~operators.execution.operator.trading_core`),
so different portfolios run on different workers. :class:`PortfolioRouting` says where each
input goes: market data and fused decisions of an asset to every portfolio that trades it; a
fused decision of an asset nobody trades to the first portfolio, which only passes it on (every
fused signal reaches the outputs exactly once: through the first portfolio that trades its
asset, see :meth:`PortfolioRouting.echoes`).

>>> from operators.execution.trading_config import TradingConfig
>>> specs = [PortfolioSpec(id="majors", assets=("BTC/USDT", "ETH/USDT")),
...          PortfolioSpec(id="alts", assets=("XRP/USDT",), initial_cash="25000",
...                        risk={"max_open_positions": 2})]
>>> portfolios = resolve_portfolios(TradingConfig(), specs)
>>> [(p.id, p.config.assets, str(p.config.portfolio.initial_cash),
...   p.config.risk.max_open_positions) for p in portfolios.portfolios]
[('majors', ('BTC/USDT', 'ETH/USDT'), '100000', 5), ('alts', ('XRP/USDT',), '25000', 2)]
>>> routing = portfolios.routing
>>> routing.targets_of_asset("XRP/USDT"), routing.targets_of_asset("DOGE/USDT")
(('alts',), ())
>>> routing.signal_targets("DOGE/USDT"), routing.echoes("majors", "DOGE/USDT")
(('majors',), True)
>>> [p.id for p in resolve_portfolios(TradingConfig(), []).portfolios]
['default']
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from operators.portfolio.routing import SINGLE, PortfolioRouting
from operators.risk.config import RiskConfig
from schemas.common import DEFAULT_PORTFOLIO

if TYPE_CHECKING:  # the execution package imports this module (its operator routes by it)
    from operators.execution.trading_config import TradingConfig

PORTFOLIO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"


class PortfolioSpec(BaseModel):
    """One entry of ``portfolios:``: what a portfolio trades and with how much."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        pattern=PORTFOLIO_ID_PATTERN,
        description="Portfolio id (letters, digits, '_', '.', '-'; at most 32): carried by "
        "its orders, fills, positions, equity and risk decisions",
    )
    assets: tuple[str, ...] = Field(
        default=(), description="Symbols this portfolio trades; empty = every asset"
    )
    initial_cash: Decimal | None = Field(
        default=None, gt=0, description="Starting capital; default trading.portfolio.initial_cash"
    )
    risk: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of trading.risk for this portfolio (same keys)",
    )


@dataclass(frozen=True, slots=True)
class Portfolio:
    """A resolved portfolio: its id and the trading core configuration it runs with."""

    id: str
    config: TradingConfig


@dataclass(frozen=True)
class PortfolioSet:
    """Every portfolio of a run and the routing between them."""

    portfolios: tuple[Portfolio, ...]
    routing: PortfolioRouting

    def config_of(self, portfolio: str) -> TradingConfig:
        return next(p.config for p in self.portfolios if p.id == portfolio)


def _override_risk(base: RiskConfig, spec: PortfolioSpec) -> RiskConfig:
    if not spec.risk:
        return base
    try:
        return RiskConfig.model_validate({**base.model_dump(), **spec.risk})
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        )
        raise ValueError(f"portfolio {spec.id!r}: risk override invalid: {fields}") from None


def resolve_portfolios(trading: TradingConfig, specs: list[PortfolioSpec] | tuple) -> PortfolioSet:
    """Each spec's trading configuration (``trading`` with its assets, capital and risk), or the
    single default portfolio of ``trading`` when ``specs`` is empty."""
    if not specs:
        return PortfolioSet((Portfolio(DEFAULT_PORTFOLIO, trading),), SINGLE)
    ids = [spec.id for spec in specs]
    duplicated = sorted({pid for pid in ids if ids.count(pid) > 1})
    if duplicated:
        raise ValueError(f"portfolios: duplicate id {', '.join(map(repr, duplicated))}")
    portfolios = []
    for spec in specs:
        cash = spec.initial_cash or trading.portfolio.initial_cash
        update: dict[str, Any] = {
            "portfolio": trading.portfolio.model_copy(update={"initial_cash": cash}),
            "risk": _override_risk(trading.risk, spec),
        }
        if spec.assets:
            update["assets"] = tuple(spec.assets)
        portfolios.append(Portfolio(spec.id, trading.model_copy(update=update)))
    routing = PortfolioRouting(
        tuple((spec.id, frozenset(spec.assets) if spec.assets else None) for spec in specs)
    )
    return PortfolioSet(tuple(portfolios), routing)
