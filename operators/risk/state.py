"""Trading state ACTIVE / REDUCING / HALTED, switched by circuit breakers or by hand.

The effective state is the most restrictive of the state set by hand and every breaker that is
currently tripped. A breaker trip either expires at a given event time (daily loss at the next
UTC midnight, volatility after its cool-down) or lasts until a human sets the state back to
``active``, which clears every trip.

>>> machine = TradingStateMachine()
>>> change = machine.trip(RiskReason.DAILY_LOSS, TradingState.REDUCING, until_ns=100,
...                       detail="daily loss 3.1% ≥ 3%", now_ns=10)
>>> change.previous.value, change.current.value, machine.cause()[0].value
('active', 'reducing', 'daily_loss')
>>> machine.expire(now_ns=100).current.value
'active'
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.common import ns_to_datetime
from schemas.operations import TradingStateChange
from schemas.trading import RiskReason, TradingState

SEVERITY: dict[TradingState, int] = {
    TradingState.ACTIVE: 0,
    TradingState.REDUCING: 1,
    TradingState.HALTED: 2,
}

MANUAL = "manual"


@dataclass(slots=True)
class Trip:
    """One tripped breaker: the state it imposes and until when (``None``: until reset)."""

    reason: RiskReason
    state: TradingState
    until_ns: int | None
    detail: str


class TradingStateMachine:
    """Manual state plus tripped breakers → the effective trading state (picklable)."""

    def __init__(self) -> None:
        self.manual: TradingState = TradingState.ACTIVE
        self.manual_detail: str = ""
        self.trips: dict[RiskReason, Trip] = {}

    @property
    def state(self) -> TradingState:
        states = [self.manual, *(t.state for t in self.trips.values())]
        return max(states, key=SEVERITY.__getitem__)

    def cause(self) -> tuple[RiskReason, str]:
        """The reason code and detail behind the current restriction (APPROVED when active)."""
        state = self.state
        if state is TradingState.ACTIVE:
            return RiskReason.APPROVED, ""
        if self.manual is state:
            code = RiskReason.HALTED if state is TradingState.HALTED else RiskReason.REDUCING_ONLY
            return code, f"trading {state.value} by hand" + (
                f": {self.manual_detail}" if self.manual_detail else ""
            )
        trip = next(t for t in self.trips.values() if t.state is state)
        return trip.reason, f"trading {state.value} after {trip.detail}"

    def _change(
        self, before: TradingState, cause: str, detail: str, now_ns: int
    ) -> TradingStateChange | None:
        after = self.state
        if after is before:
            return None
        return TradingStateChange(
            previous=before,
            current=after,
            cause=cause,
            detail=detail,
            timestamp=ns_to_datetime(now_ns),
        )

    def trip(
        self,
        reason: RiskReason,
        state: TradingState,
        *,
        until_ns: int | None,
        detail: str,
        now_ns: int,
    ) -> TradingStateChange | None:
        """Trip (or extend) a breaker; returns the state change it causes, if any."""
        before = self.state
        existing = self.trips.get(reason)
        if existing is not None:  # a re-trip extends, never shortens, the existing one
            if existing.until_ns is None or until_ns is None:
                until_ns = None
            else:
                until_ns = max(existing.until_ns, until_ns)
        self.trips[reason] = Trip(reason, state, until_ns, detail)
        return self._change(before, reason.value, detail, now_ns)

    @property
    def next_expiry_ns(self) -> int | None:
        """The earliest time a tripped breaker runs out (``None``: none runs out by itself)."""
        times = [t.until_ns for t in self.trips.values() if t.until_ns is not None]
        return min(times) if times else None

    def expire(self, now_ns: int) -> TradingStateChange | None:
        """Drop the trips whose time is over."""
        if not self.trips:  # the common case, checked once per bar
            return None
        before = self.state
        over = [r for r, t in self.trips.items() if t.until_ns is not None and t.until_ns <= now_ns]
        if not over:
            return None
        for reason in over:
            del self.trips[reason]
        return self._change(before, "expired", ", ".join(r.value for r in over) + " over", now_ns)

    def set_manual(
        self, state: TradingState, *, now_ns: int, detail: str = ""
    ) -> TradingStateChange | None:
        """Set the state by hand; ``active`` also clears every tripped breaker (a human reset)."""
        before = self.state
        self.manual = state
        self.manual_detail = detail
        if state is TradingState.ACTIVE:
            self.trips.clear()
        return self._change(before, MANUAL, detail or f"set to {state.value} by hand", now_ns)
