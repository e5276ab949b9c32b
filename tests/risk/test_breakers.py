"""Circuit breakers and the trading-state machine: trips, expiries and human resets."""

from __future__ import annotations

import math
from array import array
from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from operators.risk.breakers import NS_PER_DAY, CircuitBreakers
from operators.risk.config import RiskConfig
from operators.risk.state import SEVERITY, TradingStateMachine
from schemas.common import NS_PER_MINUTE
from schemas.trading import RiskReason, TradingState

DAY0 = 19_000 * NS_PER_DAY  # a UTC midnight


def make(**limits: object) -> tuple[CircuitBreakers, TradingStateMachine]:
    return CircuitBreakers(RiskConfig.model_validate(limits), NS_PER_MINUTE), TradingStateMachine()


def test_daily_loss_trips_at_the_limit_and_clears_at_midnight() -> None:
    breakers, machine = make(daily_loss_limit_pct=3, max_drawdown_pct=50)
    assert breakers.on_equity(DAY0 + 60, Decimal(10_000), machine) == []
    assert breakers.on_equity(DAY0 + 120, Decimal("9700.01"), machine) == []  # -2.9999 %
    [change] = breakers.on_equity(DAY0 + 180, Decimal(9_700), machine)  # -3 % exactly
    assert change.cause == "daily_loss" and change.current is TradingState.REDUCING
    assert machine.trips[RiskReason.DAILY_LOSS].until_ns == DAY0 + NS_PER_DAY
    assert machine.expire(DAY0 + NS_PER_DAY - 1) is None
    cleared = machine.expire(DAY0 + NS_PER_DAY)
    assert cleared is not None and cleared.current is TradingState.ACTIVE
    # the new day starts from the first equity it sees
    assert breakers.on_equity(DAY0 + NS_PER_DAY + 60, Decimal(9_650), machine) == []
    assert breakers.day_start_equity == Decimal(9_650)


def test_drawdown_halts_until_a_person_resets() -> None:
    breakers, machine = make(max_drawdown_pct=10, daily_loss_limit_pct=50)
    breakers.on_equity(DAY0, Decimal(100), machine)
    breakers.on_equity(DAY0 + 1, Decimal(120), machine)
    assert breakers.peak_equity == Decimal(120)
    assert breakers.on_equity(DAY0 + 2, Decimal("108.01"), machine) == []
    [change] = breakers.on_equity(DAY0 + 3, Decimal(108), machine)  # (120-108)/120 = 10 %
    assert change.current is TradingState.HALTED and change.cause == "max_drawdown"
    assert machine.expire(DAY0 + 10 * NS_PER_DAY) is None  # no expiry
    assert machine.state is TradingState.HALTED
    change = machine.set_manual(TradingState.ACTIVE, now_ns=DAY0 + 4, detail="reviewed")
    breakers.rebaseline(Decimal(108))
    assert change is not None and change.current is TradingState.ACTIVE and not machine.trips
    assert breakers.on_equity(DAY0 + 5, Decimal(100), machine) == []  # -7.4 % from 108


def _feed(breakers: CircuitBreakers, machine: TradingStateMachine, closes: list[float]) -> list:
    changes = []
    for i, close in enumerate(closes):
        changes += breakers.on_close("X/Y", DAY0 + i * NS_PER_MINUTE, close, machine)
    return changes


def test_volatility_spike_trips_for_the_cooldown() -> None:
    breakers, machine = make(
        volatility_spike_multiple=8,
        volatility_warmup_bars=20,
        volatility_halflife_bars=10,
        volatility_cooldown_bars=5,
    )
    calm = [100 * math.exp(0.001 * (-1) ** i) for i in range(40)]  # |r| ≈ 0.002 each bar
    assert _feed(breakers, machine, calm) == []
    spike_at = DAY0 + 40 * NS_PER_MINUTE
    [change] = breakers.on_close("X/Y", spike_at, calm[-1] * 1.02, machine)  # |r| ≈ 0.0198
    assert change.cause == "volatility_spike" and change.current is TradingState.REDUCING
    assert "X/Y" in change.detail
    assert machine.trips[RiskReason.VOLATILITY_SPIKE].until_ns == spike_at + 5 * NS_PER_MINUTE
    assert machine.expire(spike_at + 5 * NS_PER_MINUTE).current is TradingState.ACTIVE


def test_no_volatility_trip_during_warm_up() -> None:
    breakers, machine = make(volatility_warmup_bars=30)
    closes = [100.0] * 5 + [100.0 * 1.01**k for k in range(5)] + [150.0]
    assert _feed(breakers, machine, closes) == []


def test_a_spike_is_judged_against_sigma_before_it() -> None:
    """With a short half-life the spike would dominate its own average if added first."""
    breakers, machine = make(
        volatility_spike_multiple=3, volatility_warmup_bars=10, volatility_halflife_bars=2
    )
    closes = [100 * math.exp(0.001 * (-1) ** i) for i in range(20)] + [100 * math.exp(0.01)]
    assert [c.cause for c in _feed(breakers, machine, closes)] == ["volatility_spike"]


def test_most_restrictive_state_wins_and_manual_cause_is_reported() -> None:
    machine = TradingStateMachine()
    machine.trip(
        RiskReason.VOLATILITY_SPIKE, TradingState.REDUCING, until_ns=10, detail="v", now_ns=0
    )
    machine.set_manual(TradingState.HALTED, now_ns=1, detail="incident 42")
    assert machine.state is TradingState.HALTED
    assert machine.cause() == (RiskReason.HALTED, "trading halted by hand: incident 42")
    change = machine.set_manual(TradingState.REDUCING, now_ns=2)
    assert change is not None and change.current is TradingState.REDUCING
    assert machine.cause()[0] is RiskReason.REDUCING_ONLY  # manual reducing listed first


def test_a_re_trip_extends_but_never_shortens() -> None:
    machine = TradingStateMachine()
    machine.trip(
        RiskReason.VOLATILITY_SPIKE, TradingState.REDUCING, until_ns=100, detail="", now_ns=0
    )
    machine.trip(
        RiskReason.VOLATILITY_SPIKE, TradingState.REDUCING, until_ns=50, detail="", now_ns=1
    )
    assert machine.trips[RiskReason.VOLATILITY_SPIKE].until_ns == 100
    machine.trip(
        RiskReason.VOLATILITY_SPIKE, TradingState.REDUCING, until_ns=None, detail="", now_ns=2
    )
    assert machine.trips[RiskReason.VOLATILITY_SPIKE].until_ns is None


_STATES = st.sampled_from(list(TradingState))
_TRIPS = st.dictionaries(
    st.sampled_from([RiskReason.DAILY_LOSS, RiskReason.MAX_DRAWDOWN, RiskReason.VOLATILITY_SPIKE]),
    st.sampled_from([TradingState.REDUCING, TradingState.HALTED]),
)


@given(manual=_STATES, trips=_TRIPS)
def test_effective_state_is_the_most_severe(manual: TradingState, trips: dict) -> None:
    machine = TradingStateMachine()
    for reason, state in trips.items():
        machine.trip(reason, state, until_ns=None, detail=reason.value, now_ns=0)
    machine.set_manual(manual, now_ns=1)
    expected = max(
        [manual, *([] if manual is TradingState.ACTIVE else trips.values())],
        key=SEVERITY.__getitem__,
    )
    assert machine.state is expected
    code, _ = machine.cause()
    assert (code is RiskReason.APPROVED) == (expected is TradingState.ACTIVE)


def _volatility_state(breakers: CircuitBreakers) -> tuple[str, str, int] | None:
    state = breakers._vol.get("X/Y")
    return None if state is None else (repr(state.prev_close), repr(state.variance), state.returns)


_CLOSES = st.lists(
    st.one_of(
        st.floats(min_value=90.0, max_value=110.0),
        st.sampled_from([0.0, -1.0, math.nan, 100.0, 140.0, 60.0]),
    ),
    max_size=60,
)


@given(
    closes=_CLOSES,
    cut=st.integers(min_value=0, max_value=60),
    typed=st.booleans(),
    warmup=st.integers(min_value=2, max_value=6),
)
@example(closes=[91.0, 91.0, 92.0, 90.0, 93.0], cut=0, typed=False, warmup=2)  # two spikes
def test_absorbing_closes_leaves_what_one_by_one_leaves(
    closes: list[float], cut: int, typed: bool, warmup: int
) -> None:
    """Stretches taken by the compiled loop, each spike fed one by one as the trading core
    does: the same trips, and the same state to the last bit (restarts on unusable closes
    included) after every step."""
    limits = {"volatility_warmup_bars": warmup, "volatility_spike_multiple": 2.5}
    one_by_one, machine = make(**limits, volatility_halflife_bars=3)
    at_once, other_machine = make(**limits, volatility_halflife_bars=3)
    column = array("d", closes) if typed else closes
    position = 0
    for stop in (min(cut, len(closes)), len(closes)):
        while position < stop:
            taken = at_once.absorb_closes("X/Y", column, position, stop)
            for close in closes[position : position + taken]:
                assert one_by_one.on_close("X/Y", DAY0, close, machine) == []
            position += taken
            assert _volatility_state(at_once) == _volatility_state(one_by_one)
            if position < stop:  # stopped at a spike: it trips the breaker or extends its trip
                now = DAY0 + position * NS_PER_MINUTE  # (a trip already in force changes no state)
                before = machine.trips.get(RiskReason.VOLATILITY_SPIKE)
                changes = one_by_one.on_close("X/Y", now, closes[position], machine)
                assert at_once.on_close("X/Y", now, closes[position], other_machine) == changes
                after = machine.trips[RiskReason.VOLATILITY_SPIKE]
                assert bool(changes) == (before is None)
                assert before is None or after.until_ns > before.until_ns
                position += 1
