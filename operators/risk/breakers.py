"""Circuit breakers: daily loss, maximum drawdown and volatility spike.

* Daily loss: equity below the first equity seen in the UTC day by ``daily_loss_limit_pct``
  trips ``daily_loss_action`` until the next UTC midnight.
* Drawdown: equity below its running peak by ``max_drawdown_pct`` trips ``drawdown_action``
  until a human resets the state (which also re-bases the peak and the day's start).
* Volatility spike: a bar whose absolute log return exceeds ``volatility_spike_multiple`` times
  the exponentially weighted standard deviation of the previous returns (half-life
  ``volatility_halflife_bars``, after ``volatility_warmup_bars`` returns) trips
  ``volatility_action`` for ``volatility_cooldown_bars`` bars. The spike is compared with the
  sigma *before* it enters the average, so a spike never hides itself.

>>> from schemas.common import NS_PER_MINUTE
>>> cfg = RiskConfig(max_drawdown_pct=5)
>>> machine = TradingStateMachine()
>>> breakers = CircuitBreakers(cfg, bar_ns=NS_PER_MINUTE)
>>> breakers.on_equity(0, Decimal(1000), machine), machine.state.value
([], 'active')
>>> [(c.cause, c.current.value) for c in breakers.on_equity(60, Decimal(950), machine)]
[('daily_loss', 'reducing'), ('max_drawdown', 'halted')]
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from operators.risk._volatility_kernel import absorb_until_spike
from operators.risk.config import RiskConfig
from operators.risk.state import TradingStateChange, TradingStateMachine
from schemas.common import NS_PER_SECOND
from schemas.trading import RiskReason

NS_PER_DAY = 86_400 * NS_PER_SECOND


@dataclass(slots=True)
class _Volatility:
    prev_close: float
    variance: float = 0.0
    returns: int = 0

    def spike_sigma(self, ret: float, warmup: int, multiple: float) -> float | None:
        """The sigma ``ret`` is a spike against (before it enters the average), else ``None``."""
        sigma = math.sqrt(self.variance)
        spike = self.returns >= warmup and sigma > 0 and abs(ret) > multiple * sigma
        return sigma if spike else None

    def learn(self, close: float, ret: float, alpha: float) -> None:
        """Take in the bar closing at ``close`` with log return ``ret``."""
        self.prev_close = close
        if self.returns == 0:
            self.variance = ret * ret
        else:
            self.variance += alpha * (ret * ret - self.variance)
        self.returns += 1


class CircuitBreakers:
    """Watches equity and bar returns, trips the state machine (picklable state)."""

    def __init__(self, config: RiskConfig, bar_ns: int) -> None:
        self.config = config
        self.bar_ns = bar_ns
        self.day: int | None = None
        self.day_start_equity: Decimal | None = None
        self.peak_equity: Decimal | None = None
        self._alpha = 1.0 - 0.5 ** (1.0 / config.volatility_halflife_bars)
        self._vol: dict[str, _Volatility] = {}
        self._quiet: tuple[int, Decimal] | None = None
        """(day, equity) of the last call that breached nothing: the same pair again cannot
        move the day start or the peak, so it breaches nothing either (equity is flat while
        no position is open, which is most bars)."""

    def reconfigure(self, config: RiskConfig) -> None:
        """New limits: the next bar and equity value are judged by them."""
        self.config = config
        self._alpha = 1.0 - 0.5 ** (1.0 / config.volatility_halflife_bars)
        self._quiet = None

    def rebaseline(self, equity: Decimal) -> None:
        """Start the day and the peak again from ``equity`` (after a human reset)."""
        self.day_start_equity = equity
        self.peak_equity = equity
        self._quiet = None

    def drawdown_pct(self, equity: Decimal) -> float:
        if self.peak_equity is None or self.peak_equity <= 0:
            return 0.0
        return float((self.peak_equity - equity) / self.peak_equity * 100)

    def daily_loss_pct(self, equity: Decimal) -> float:
        if self.day_start_equity is None or self.day_start_equity <= 0:
            return 0.0
        return float((self.day_start_equity - equity) / self.day_start_equity * 100)

    def on_equity(
        self, now_ns: int, equity: Decimal, machine: TradingStateMachine
    ) -> list[TradingStateChange]:
        """Update the day and peak with a new equity value; trip what it breaches."""
        cfg = self.config
        changes: list[TradingStateChange | None] = []
        day = now_ns // NS_PER_DAY
        if self.quiet_day(equity) == day:
            return []
        if day != self.day:
            self.day = day
            self.day_start_equity = equity
        if self.peak_equity is None or equity > self.peak_equity:
            self.peak_equity = equity
        loss = self.daily_loss_pct(equity)
        if loss >= cfg.daily_loss_limit_pct:
            changes.append(
                machine.trip(
                    RiskReason.DAILY_LOSS,
                    cfg.daily_loss_action,
                    until_ns=(day + 1) * NS_PER_DAY,
                    detail=f"daily loss {loss:.2f}% ≥ {cfg.daily_loss_limit_pct}%",
                    now_ns=now_ns,
                )
            )
        drawdown = self.drawdown_pct(equity)
        if drawdown >= cfg.max_drawdown_pct:
            changes.append(
                machine.trip(
                    RiskReason.MAX_DRAWDOWN,
                    cfg.drawdown_action,
                    until_ns=None,
                    detail=f"drawdown {drawdown:.2f}% ≥ {cfg.max_drawdown_pct}%",
                    now_ns=now_ns,
                )
            )
        self._quiet = (day, equity) if not changes else None
        return [c for c in changes if c is not None]

    def on_close(
        self, asset: str, now_ns: int, close: float, machine: TradingStateMachine
    ) -> list[TradingStateChange]:
        """Feed one closed bar of ``asset``; trips the volatility breaker on a spike."""
        fed = self._log_return(asset, close)
        if fed is None:
            return []
        state, ret = fed
        cfg = self.config
        multiple = cfg.volatility_spike_multiple
        sigma = state.spike_sigma(ret, cfg.volatility_warmup_bars, multiple)
        change = None
        if sigma is not None:
            change = machine.trip(
                RiskReason.VOLATILITY_SPIKE,
                cfg.volatility_action,
                until_ns=now_ns + cfg.volatility_cooldown_bars * self.bar_ns,
                detail=(
                    f"volatility spike on {asset}: |return| {abs(ret):.5f} > "
                    f"{multiple} × sigma {sigma:.5f}"
                ),
                now_ns=now_ns,
            )
        state.learn(close, ret, self._alpha)
        return [] if change is None else [change]

    def _log_return(self, asset: str, close: float) -> tuple[_Volatility, float] | None:
        """``asset``'s volatility state and the log return of ``close`` — or ``None`` once the
        state is (re)started at ``close`` (its first bar, or a price a return cannot use)."""
        state = self._vol.get(asset)
        if state is None or not (close > 0 and state.prev_close > 0):
            self._vol[asset] = _Volatility(prev_close=close)
            return None
        return state, math.log(close / state.prev_close)

    def quiet_day(self, equity: Decimal) -> int | None:
        """The UTC day (``now_ns // NS_PER_DAY``) on which ``equity`` is known to breach
        nothing (:meth:`on_equity` would return ``[]`` and change nothing), else ``None``."""
        quiet = self._quiet
        return quiet[0] if quiet is not None and quiet[1] == equity else None

    def absorb_closes(self, asset: str, closes: Sequence[float], start: int, stop: int) -> int:
        """Feed ``closes[start:stop]`` of ``asset`` as :meth:`on_close` would, one by one, up
        to the first that would trip the volatility breaker; returns how many were taken (that
        one is not: the caller feeds it to :meth:`on_close` with its event time). The steps of
        :meth:`on_close` (``_log_return``, ``spike_sigma``, ``learn``) in one compiled loop
        (:mod:`operators.risk._volatility_kernel`): the state after is exactly that of the
        one-by-one calls.

        >>> breakers = CircuitBreakers(RiskConfig(volatility_warmup_bars=2), bar_ns=60)
        >>> breakers.absorb_closes("A/B", [100.0, 100.1, 100.0, 100.1, 130.0, 100.0], 0, 6)
        4
        """
        if start >= stop:
            return 0
        state = self._vol.get(asset)
        first = start
        if state is None:  # the asset's first close starts its state
            state = self._vol[asset] = _Volatility(prev_close=float(closes[start]))
            first += 1
        cfg = self.config
        taken, state.prev_close, state.variance, state.returns = absorb_until_spike(
            _float64(closes, first, stop),
            state.prev_close,
            state.variance,
            state.returns,
            cfg.volatility_warmup_bars,
            cfg.volatility_spike_multiple,
            self._alpha,
        )
        return first - start + taken


def _float64(values: Sequence[float], start: int, stop: int) -> np.ndarray:
    """``values[start:stop]`` as a float64 array (a view where ``values`` is a typed array)."""
    if isinstance(values, array) and values.typecode == "d":
        return np.frombuffer(values, dtype=np.float64, count=stop - start, offset=8 * start)
    return np.asarray(values[start:stop], dtype=np.float64)
