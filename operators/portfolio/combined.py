"""The equity curve of several portfolios taken together (the run's whole book).

Each portfolio samples its own curve on the same epoch-aligned grid, plus a last point where
its input ended. At every instant any of them has a point, the combined point adds up each
portfolio's latest point at or before it (a portfolio without one yet counts its starting
cash, flat); the drawdown is measured on the combined curve from the combined starting cash.

>>> from datetime import UTC, datetime, timedelta
>>> from decimal import Decimal
>>> t0 = datetime(2022, 1, 1, tzinfo=UTC)
>>> def point(pid, hour, equity, exposure=None):
...     return EquityPoint(ts=t0 + timedelta(hours=hour), equity=Decimal(equity),
...                        cash=Decimal(equity), realized_pnl=Decimal(0), unrealized_pnl=Decimal(0),
...                        fees_paid=Decimal(0), gross_exposure=Decimal(0), net_exposure=Decimal(0),
...                        exposure=exposure or {}, open_positions=0, drawdown_pct=0.0,
...                        portfolio=pid)
>>> curve = combine_equity([point("a", 1, 110), point("b", 2, 40), point("a", 2, 90)],
...                        {"a": Decimal(100), "b": Decimal(50)})
>>> [(p.ts.hour, str(p.equity), round(p.drawdown_pct, 4)) for p in curve]
[(1, '160.00000000', 0.0), (2, '130.00000000', 18.75)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from operators.portfolio.book import money
from schemas.operations import EquityPoint

ZERO = Decimal(0)
COMBINED = "all"
"""The ``portfolio`` of a combined point."""

_SUMMED = (
    "equity",
    "cash",
    "realized_pnl",
    "unrealized_pnl",
    "fees_paid",
    "gross_exposure",
    "net_exposure",
)


def combine_equity(
    points: Iterable[EquityPoint], initial_cash: Mapping[str, Decimal]
) -> list[EquityPoint]:
    """One curve over every portfolio of ``initial_cash`` (see the module docstring)."""
    by_time: dict[object, list[EquityPoint]] = {}
    for p in points:
        by_time.setdefault(p.ts, []).append(p)
    latest: dict[str, EquityPoint] = {}
    peak = sum(initial_cash.values(), ZERO)
    combined: list[EquityPoint] = []
    for ts in sorted(by_time):
        for p in by_time[ts]:
            latest[p.portfolio] = p
        sums = {name: ZERO for name in _SUMMED}
        exposure: dict[str, Decimal] = {}
        open_positions = 0
        for pid, cash in initial_cash.items():
            current = latest.get(pid)
            if current is None:
                sums["equity"] += cash
                sums["cash"] += cash
                continue
            for name in _SUMMED:
                sums[name] += getattr(current, name)
            for asset, value in current.exposure.items():
                exposure[asset] = exposure.get(asset, ZERO) + value
            open_positions += current.open_positions
        equity = sums["equity"]
        peak = max(peak, equity)
        drawdown = (peak - equity) / peak * 100 if equity > 0 else Decimal(100)
        combined.append(
            EquityPoint(
                ts=ts,
                **{name: money(value) for name, value in sums.items()},
                exposure={a: money(v) for a, v in sorted(exposure.items()) if v != 0},
                open_positions=open_positions,
                drawdown_pct=float(drawdown),
                portfolio=COMBINED,
            )
        )
    return combined
