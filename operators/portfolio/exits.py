"""Exit plan of an open position: stop, take-profit at 2R, partial close at +1R, trailing stop.

The plan is checked on every closed bar of the asset that opened at or after the position's
entry. Stops are evaluated before targets within a bar (the pessimistic reading of an OHLC
bar whose path is unknown). An exit found on a bar becomes a market order created at that bar's
close, so it fills on a later bar: no exit ever uses the bar that triggered it.

The trailing stop (when configured) moves with the best price seen *through the end of the
current bar* and only ever tightens; it applies from the next bar on.

>>> from operators.portfolio.sizing import SizingConfig
>>> from operators.portfolio.instruments import InstrumentSpec
>>> plan = ExitPlan.open(entry=Decimal(100), direction=1, stop_distance=Decimal(2),
...                      config=SizingConfig(), spec=InstrumentSpec())
>>> plan.stop, plan.partial_target, plan.take_profit
(Decimal('98.00000000'), Decimal('102.00000000'), Decimal('104.00000000'))
>>> plan.on_bar(high=Decimal("102.5"), low=Decimal(99))
ExitAction(kind='partial', fraction=Decimal('0.5'), level=Decimal('102.00000000'))
>>> plan.stop  # moved to break-even after the partial
Decimal('100.00000000')
>>> plan.on_bar(high=Decimal(101), low=Decimal("99.9")).kind
'stop'
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from operators.portfolio.instruments import InstrumentSpec
from operators.portfolio.sizing import SizingConfig, exit_levels


@dataclass(frozen=True, slots=True)
class ExitAction:
    """Close ``fraction`` of the position because price reached ``level`` (``kind``)."""

    kind: str  # "stop" | "take_profit" | "partial"
    fraction: Decimal
    level: Decimal


@dataclass(slots=True)
class ExitPlan:
    """Stop and targets of one position (picklable, mutated as bars arrive)."""

    direction: int
    entry: Decimal
    stop_distance: Decimal
    stop: Decimal
    take_profit: Decimal
    partial_target: Decimal | None
    partial_fraction: Decimal
    breakeven_after_partial: bool
    trail_distance: Decimal | None
    spec: InstrumentSpec
    config: SizingConfig
    partial_done: bool = False
    best_price: Decimal | None = None

    @classmethod
    def open(
        cls,
        *,
        entry: Decimal,
        direction: int,
        stop_distance: Decimal,
        config: SizingConfig,
        spec: InstrumentSpec,
        atr: Decimal | None = None,
    ) -> ExitPlan:
        stop, take_profit, partial = exit_levels(entry, direction, stop_distance, config, spec)
        trail = (
            None
            if config.trailing_stop_atr_multiple is None or atr is None
            else Decimal(repr(config.trailing_stop_atr_multiple)) * atr
        )
        return cls(
            direction=direction,
            entry=entry,
            stop_distance=stop_distance,
            stop=stop,
            take_profit=take_profit,
            partial_target=partial,
            partial_fraction=Decimal(repr(config.partial_close_fraction)),
            breakeven_after_partial=config.breakeven_after_partial,
            trail_distance=trail,
            spec=spec,
            config=config,
        )

    def reprice(self, entry: Decimal) -> None:
        """The average entry moved (another entry fill): place the levels around it again."""
        if self.partial_done or entry == self.entry:
            return
        self.entry = entry
        self.stop, self.take_profit, self.partial_target = exit_levels(
            entry, self.direction, self.stop_distance, self.config, self.spec
        )

    def _tighten(self, candidate: Decimal) -> None:
        candidate = self.spec.protective_price(candidate, self.direction)
        if (candidate > self.stop) if self.direction > 0 else (candidate < self.stop):
            self.stop = candidate

    def on_bar(self, *, high: Decimal, low: Decimal) -> ExitAction | None:
        """Check one closed bar; returns the exit it triggers, if any."""
        long = self.direction > 0
        action: ExitAction | None = None
        if low <= self.stop if long else high >= self.stop:
            action = ExitAction("stop", Decimal(1), self.stop)
        elif high >= self.take_profit if long else low <= self.take_profit:
            action = ExitAction("take_profit", Decimal(1), self.take_profit)
        elif (
            not self.partial_done
            and self.partial_target is not None
            and (high >= self.partial_target if long else low <= self.partial_target)
        ):
            action = ExitAction("partial", self.partial_fraction, self.partial_target)
            self.partial_done = True
            if self.breakeven_after_partial:
                self._tighten(self.entry)
        if self.trail_distance is not None:
            best = high if long else low
            if self.best_price is None or (
                best > self.best_price if long else best < self.best_price
            ):
                self.best_price = best
            self._tighten(self.best_price - self.direction * self.trail_distance)
        return action
