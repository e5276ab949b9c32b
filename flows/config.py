"""One validated configuration for a Quorum run, composed of each domain's section.

The shipped default lives in ``flows/quorum.yaml``; ``--config FILE`` overrides any part of it.
An invalid configuration stops start-up with a message naming the file, the field and the value.

>>> cfg = load_config()
>>> [tf.value for tf in cfg.candles.timeframes]
['1m', '5m', '15m', '1h', '4h']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.kafka.config import KafkaConfig
from connectors.llm.config import LlmConfig
from connectors.prometheus.config import MetricsConfig
from connectors.questdb.config import redact_conf
from connectors.store.config import StoreConfig
from flows.cluster import ClusterSettings, RecoverySettings
from flows.runtime_gc import GcSettings
from operators.candles.instruments import InstrumentsConfig
from operators.execution.trading_config import TradingConfig
from operators.fusion.config import FusionConfig
from operators.indicators.bank import DEFAULT_FEATURES
from operators.notify.config import NotifyConfig
from operators.portfolio.portfolios import PortfolioSet, PortfolioSpec, resolve_portfolios
from operators.signals.config import SignalsConfig
from operators.signals.text.config import TextConfig
from operators.validation.config import ValidationConfig
from schemas.common import INTRADAY_TIMEFRAMES, Timeframe

DEFAULT_CONFIG_PATH = Path(__file__).with_name("quorum.yaml")


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the file, field and value."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CandlesConfig(Section):
    """Candle building: which timeframes, how late a trade may be, the empty-minute policy."""

    timeframes: tuple[Timeframe, ...] = Field(
        default=INTRADAY_TIMEFRAMES,
        description="Timeframes to build and publish (1m 5m 15m 1h 4h 1d 1w); days and weeks "
        "follow each instrument's calendar",
    )
    allowed_lateness_ms: int = Field(default=0, ge=0, le=3_600_000)
    fill_empty_minutes: bool = True
    quote_price: Literal["mid", "bid", "ask"] = Field(
        default="mid", description="Price of candles built from a quotes file: mid, bid or ask"
    )
    adjust_prices: bool = Field(
        default=False,
        description="Stocks: apply a candle file's adjusted-close column (splits, dividends) "
        "to open, high, low and close",
    )
    corporate_actions: Path | None = Field(
        default=None,
        description="Stocks: a splits-and-dividends file (date, symbol, action, value) that "
        "back-adjusts candle files' raw prices (not together with adjust_prices)",
    )

    @field_validator("timeframes")
    @classmethod
    def _non_empty_sorted(cls, value: tuple[Timeframe, ...]) -> tuple[Timeframe, ...]:
        if not value:
            raise ValueError("at least one timeframe is required")
        return tuple(sorted(set(value), key=lambda tf: tf.seconds))


class FeaturesConfig(Section):
    """Indicator columns computed on every closed candle, on top of what the signals need."""

    extra: tuple[str, ...] = ()


class SourceConfig(Section):
    batch_size: int = Field(default=50_000, ge=1, le=10_000_000)
    partitions: int = Field(default=1, ge=1, le=1024)
    speed: float | None = Field(default=None, gt=0, description="None = as fast as possible")


def _format_validation_error(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(root)"
        value = err.get("input")
        lines.append(f"  {field}: {err['msg']} (got {redact_conf(repr(value))})")
    return "\n".join(lines)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"configuration file {path} must hold a mapping, got {type(data).__name__}"
        )
    return data


class QuorumConfig(Section):
    """Everything a run needs, validated as a whole before the flow is built."""

    source: SourceConfig = SourceConfig()
    validation: ValidationConfig = ValidationConfig()
    instruments: InstrumentsConfig = InstrumentsConfig()
    candles: CandlesConfig = CandlesConfig()
    features: FeaturesConfig = FeaturesConfig()
    signals: SignalsConfig = SignalsConfig()
    fusion: FusionConfig = FusionConfig()
    trading: TradingConfig = TradingConfig()
    portfolios: tuple[PortfolioSpec, ...] = Field(
        default=(),
        description="The portfolios the run trades (id, assets, initial_cash, risk overrides); "
        "empty = one portfolio 'default' built from the trading section",
    )
    notifications: NotifyConfig = NotifyConfig()
    metrics: MetricsConfig = MetricsConfig()
    cluster: ClusterSettings = ClusterSettings()
    recovery: RecoverySettings = RecoverySettings()
    kafka: KafkaConfig = KafkaConfig()
    store: StoreConfig = StoreConfig()
    llm: LlmConfig = LlmConfig()
    text: TextConfig = TextConfig()
    gc: GcSettings = GcSettings()

    @field_validator("text")
    @classmethod
    def _text_timeframe_is_built(cls, value: TextConfig, info: ValidationInfo) -> TextConfig:
        candles = info.data.get("candles")
        if candles is not None:
            value.check_timeframes(candles.timeframes)
        return value

    @model_validator(mode="after")
    def _portfolios_resolve(self) -> QuorumConfig:
        self.portfolio_set()  # duplicate ids or bad risk overrides stop start-up
        return self

    def portfolio_set(self) -> PortfolioSet:
        """The run's portfolios with their trading configuration (see ``portfolios``)."""
        return resolve_portfolios(self.trading, self.portfolios)

    def feature_names(self) -> tuple[str, ...]:
        """Default indicator columns + configured extras + what the later stages need."""
        names = list(DEFAULT_FEATURES)
        wanted = [
            *self.features.extra,
            *sorted(self.signals.required_features()),
            self.trading.atr_feature,
        ]
        for name in wanted:
            if name not in names:
                names.append(name)
        return tuple(names)


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> QuorumConfig:
    """The shipped defaults, overlaid with ``path`` (YAML) and then ``overrides``.

    Raises :class:`ConfigError` naming the file, the field and the value on any problem.
    """
    data = _read_yaml(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.exists() else {}
    origin = str(DEFAULT_CONFIG_PATH.name)
    if path is not None:
        data = _deep_merge(data, _read_yaml(Path(path)))
        origin = str(path)
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        config = QuorumConfig.model_validate(data)
        config.feature_names()
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from None
    return config
