"""Impossible risk, sizing and execution configurations are refused, naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from operators.execution.config import ExecutionConfig
from operators.execution.costs import FeeSchedule
from operators.execution.trading_config import TradingConfig
from operators.portfolio.instruments import InstrumentSpec
from operators.portfolio.sizing import SizingConfig
from operators.risk.config import RiskConfig


def _error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.errors()}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_position_notional", Decimal("-5")),
        ("max_position_notional", Decimal(0)),
        ("max_asset_exposure_pct", 0),
        ("max_total_exposure_pct", 1001),
        ("max_open_positions", 0),
        ("max_volume_participation_pct", 150),
        ("max_spread_bps", -1),
        ("daily_loss_limit_pct", 100),
        ("max_drawdown_pct", -3),
        ("stale_after_bars", 0.5),
        ("volatility_spike_multiple", 1),
        ("max_orders_per_window", 0),
    ],
)
def test_out_of_range_risk_limits_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        RiskConfig.model_validate({field: value})
    assert _error_fields(info.value) == {field}
    assert field in str(info.value)


def test_a_breaker_cannot_switch_to_active() -> None:
    with pytest.raises(ValidationError, match="daily_loss_action") as info:
        RiskConfig(daily_loss_action="active")
    assert "must switch to 'reducing' or 'halted'" in str(info.value)


def test_asset_limit_above_total_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"max_asset_exposure_pct 80\.0 exceeds"):
        RiskConfig(max_asset_exposure_pct=80, max_total_exposure_pct=60)


def test_a_stop_at_or_beyond_the_price_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        SizingConfig(max_stop_distance_pct=100)
    assert _error_fields(info.value) == {"max_stop_distance_pct"}
    with pytest.raises(ValidationError, match=r"min_stop_distance_pct 5\.0 exceeds"):
        SizingConfig(min_stop_distance_pct=5, max_stop_distance_pct=2)


def test_partial_close_must_come_before_the_target() -> None:
    with pytest.raises(ValidationError, match=r"partial_close_r 2\.0 must be below take_profit_r"):
        SizingConfig(partial_close_r=2.0, take_profit_r=2.0)


def test_fees_are_never_zero_by_accident() -> None:
    with pytest.raises(ValidationError, match="taker_bps is 0"):
        FeeSchedule(taker_bps=0)
    assert FeeSchedule(maker_bps=0, taker_bps=0, allow_zero=True).taker_bps == 0
    with pytest.raises(ValidationError) as info:
        FeeSchedule(taker_bps=-1)
    assert _error_fields(info.value) == {"taker_bps"}


def test_execution_rules_must_be_consistent() -> None:
    with pytest.raises(ValidationError, match=r"pov_rate_pct 20\.0 exceeds max_participation_pct"):
        ExecutionConfig(pov_rate_pct=20, max_participation_pct=10)
    with pytest.raises(ValidationError, match="large_order_algo must be 'twap' or 'pov'"):
        ExecutionConfig(large_order_algo="immediate")


def test_instrument_rules_must_be_positive() -> None:
    with pytest.raises(ValidationError) as info:
        InstrumentSpec(price_tick=Decimal(0))
    assert _error_fields(info.value) == {"price_tick"}


def test_nested_errors_carry_the_full_path() -> None:
    with pytest.raises(ValidationError) as info:
        TradingConfig.model_validate(
            {
                "risk": {"max_position_notional": "-1"},
                "portfolio": {"sizing": {"stop_atr_multiple": 0}},
                "execution": {"fees": {"maker_bps": -2}},
            }
        )
    assert _error_fields(info.value) == {
        "risk.max_position_notional",
        "portfolio.sizing.stop_atr_multiple",
        "execution.fees.maker_bps",
    }


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        TradingConfig.model_validate({"risk": {"max_postion_notional": 5}})
    assert _error_fields(info.value) == {"risk.max_postion_notional"}


def test_defaults_are_documented_values() -> None:
    cfg = TradingConfig()
    assert cfg.execution.fees.taker_bps == 10.0  # Binance spot base tier
    assert cfg.risk.stale_after_bars == 2.0
    assert cfg.portfolio.sizing.take_profit_r == 2.0
    assert cfg.portfolio.sizing.partial_close_r == 1.0
