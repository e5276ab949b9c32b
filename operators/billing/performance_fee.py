"""Performance fee: a share of a subscriber portfolio's new gains above its high-water mark.

Rules, per portfolio and month (integer minor units):

* the portfolio's *net value* is its equity (already net of trading fees and slippage) minus
  every performance fee charged so far;
* the high-water mark starts at the portfolio's starting capital;
* at a month's close the fee is ``percent`` % of ``net value − mark`` when positive (rounded
  down), else nothing; the mark then becomes ``net value − fee`` — the net value after the fee —
  so a gain is charged once and a drawdown must be recovered before any new fee.

>>> state = HighWaterMark(mark_minor=1_000_000, fees_charged_minor=0)
>>> fee, state = monthly_fee(state, equity_minor=1_100_000, percent=20)
>>> fee, state.mark_minor
(20000, 1080000)
"""

from __future__ import annotations

from dataclasses import dataclass

from operators.billing.money import percent_of


@dataclass(frozen=True, slots=True)
class HighWaterMark:
    """A portfolio's fee state between closes (picklable, stored between months)."""

    mark_minor: int
    fees_charged_minor: int = 0

    def net_value(self, equity_minor: int) -> int:
        return equity_minor - self.fees_charged_minor


def monthly_fee(
    state: HighWaterMark, *, equity_minor: int, percent: int
) -> tuple[int, HighWaterMark]:
    """The fee for a month ending at ``equity_minor`` and the state after charging it."""
    net = state.net_value(equity_minor)
    gain = net - state.mark_minor
    if gain <= 0:
        return 0, state
    fee = percent_of(gain, percent)
    return fee, HighWaterMark(net - fee, state.fees_charged_minor + fee)
