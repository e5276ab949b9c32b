"""``SignalsConfig``: which generators run, on which timeframes, with which parameters.

Every value has a default; a bad one is rejected at start-up with the field named, and the
playbooks are loaded and validated as part of validating the configuration (a bad playbook stops
start-up with its file, line and field).

>>> cfg = SignalsConfig()
>>> [tf.value for tf in cfg.timeframes], len(cfg.playbooks()) >= 6
(['15m', '1h', '4h'], True)
>>> sorted(cfg.required_features())[:3]
['atr_14', 'bb_lower', 'bb_upper']
>>> SignalsConfig(zscore={"entry": -1})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for SignalsConfig
zscore.entry
  Input should be greater than 0 ...
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from operators.signals.base import SignalGenerator
from operators.signals.online import MODELS, OnlineDirectionLearner
from operators.signals.playbook import Playbook
from operators.signals.playbook_loader import load_playbooks
from operators.signals.rules import PlaybookRule
from operators.signals.statistical import TrendStrength, VolatilityBreakout, ZScoreReversion
from operators.signals.vocabulary import describe_vocabulary, is_known_feature
from schemas.common import Timeframe

DEFAULT_PLAYBOOK_DIR = Path(str(files("flows").joinpath("playbooks")))
"""The playbooks shipped with Quorum (``flows/playbooks/*.yaml``)."""

DEFAULT_TIMEFRAMES: tuple[Timeframe, ...] = (Timeframe.M15, Timeframe.H1, Timeframe.H4)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StatisticConfig(_Section):
    """One statistical generator: window, entry level of the statistic, confidence ramp."""

    enabled: bool = True
    window: int = Field(default=20, ge=3, le=5_000)
    entry: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    scale: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    ceiling: float = Field(default=0.5, ge=0, le=1)
    expires_after: int = Field(default=4, ge=1, le=10_000, description="candles")


class OnlineConfig(_Section):
    """The river direction classifier per (asset, timeframe)."""

    enabled: bool = True
    model: Literal["logistic", "hoeffding_tree"] = "logistic"
    features: tuple[str, ...] = (
        "rsi_14",
        "macd_hist",
        "ema_20",
        "ema_50",
        "bb_upper",
        "bb_lower",
        "atr_14",
    )
    return_lags: tuple[int, ...] = (1, 4)
    horizon: int = Field(default=4, ge=1, le=1_000, description="candles ahead")
    timeframes: tuple[Timeframe, ...] | None = Field(
        default=None,
        description="the signal timeframes the learner runs on; none given: all of them",
    )
    warmup: int = Field(default=200, ge=1, description="labels learned before signalling")
    min_confidence: float = Field(default=0.1, ge=0, le=1)

    @field_validator("features")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not is_known_feature(name):
                raise ValueError(f"unknown indicator {name!r} (known: {describe_vocabulary()})")
        return value

    @field_validator("return_lags")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(lag < 1 for lag in value):
            raise ValueError(f"return lags must be >= 1 candle, got {list(value)}")
        return value


class RulesConfig(_Section):
    enabled: bool = True
    paths: tuple[Path, ...] = (DEFAULT_PLAYBOOK_DIR,)


class SignalsConfig(_Section):
    """All signal generators of a run."""

    timeframes: tuple[Timeframe, ...] = DEFAULT_TIMEFRAMES
    rules: RulesConfig = RulesConfig()
    zscore: StatisticConfig = StatisticConfig(window=20, entry=2.0, scale=2.0)
    breakout: StatisticConfig = StatisticConfig(window=20, entry=2.5, scale=3.0)
    trend: StatisticConfig = StatisticConfig(window=30, entry=8.0, scale=8.0)
    online: OnlineConfig = OnlineConfig()
    max_wait_minutes: int = Field(
        default=1440,
        ge=0,
        description="how long (event time) to wait for a timeframe never seen before ordering",
    )

    _playbooks: list[Playbook] = PrivateAttr(default_factory=list)

    @field_validator("timeframes")
    @classmethod
    def _sorted_unique(cls, value: tuple[Timeframe, ...]) -> tuple[Timeframe, ...]:
        if not value:
            raise ValueError("at least one timeframe is required")
        return tuple(sorted(set(value), key=lambda tf: tf.seconds))

    @field_validator("online")
    @classmethod
    def _learner_timeframes_are_signal_timeframes(
        cls, online: OnlineConfig, info: ValidationInfo
    ) -> OnlineConfig:
        chosen, signal_timeframes = online.timeframes, info.data.get("timeframes")
        if chosen is None or signal_timeframes is None:  # (timeframes invalid: reported there)
            return online
        known = ", ".join(tf.value for tf in signal_timeframes)
        if not chosen:
            raise ValueError(f"timeframes: give at least one of {known}, or leave it out")
        for timeframe in chosen:
            if timeframe not in signal_timeframes:
                raise ValueError(
                    f"timeframes: {timeframe.value} is not a signal timeframe ({known})"
                )
        return online

    @model_validator(mode="after")
    def _load_playbooks(self) -> SignalsConfig:
        if self.rules.enabled:
            self._playbooks = [
                pb for pb in load_playbooks(self.rules.paths, self.timeframes) if pb.enabled
            ]
        return self

    def playbooks(self) -> list[Playbook]:
        """The enabled playbooks, validated at start-up."""
        return list(self._playbooks)

    def build_generators(self) -> list[SignalGenerator]:
        """Fresh generator cores (one set per symbol)."""
        generators: list[SignalGenerator] = [PlaybookRule(pb) for pb in self.playbooks()]
        statistics = (
            (self.zscore, ZScoreReversion),
            (self.breakout, VolatilityBreakout),
            (self.trend, TrendStrength),
        )
        for section, kind in statistics:
            if section.enabled:
                generators.append(
                    kind(
                        section.window,
                        section.entry,
                        section.scale,
                        section.ceiling,
                        section.expires_after,
                        self.timeframes,
                    )
                )
        if self.online.enabled:
            generators.append(
                OnlineDirectionLearner(
                    self.online.features,
                    self.online.horizon,
                    self.online.timeframes or self.timeframes,
                    warmup=self.online.warmup,
                    min_confidence=self.online.min_confidence,
                    return_lags=self.online.return_lags,
                    model_factory=MODELS[self.online.model],
                )
            )
        return generators

    def required_features(self) -> set[str]:
        """Indicator columns the generators read: configure the indicator bank with these."""
        names: set[str] = set()
        for generator in self.build_generators():
            names |= generator.required_features()
        return names - {"open", "high", "low", "close", "volume"}
