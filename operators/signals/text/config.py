"""``TextConfig``: the news/social sentiment source, its decay and the news filter guard.

Empty ``news`` (the default) means no text source: the flow is exactly the one without it.

>>> cfg = TextConfig()
>>> cfg.enabled, cfg.timeframe.value, cfg.expires_minutes
(False, '1h', 240)
>>> TextConfig(min_abs_score=0.9, max_confidence=0.5)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for TextConfig
max_confidence
  Value error, max_confidence (0.5) must be at least min_abs_score (0.9) ...
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.common import Timeframe

SHIPPED = Path(__file__).resolve().parents[3] / "connectors" / "data"

ORIGIN = "text:sentiment"


class NewsFilterConfig(BaseModel):
    """The seed playbook's news filter: no long entry on strongly negative news."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="apply the guard when a text source runs")
    negative_below: float = Field(
        default=-0.5, ge=-1, lt=0, description="a post scoring at most this is strongly negative"
    )
    window_minutes: int = Field(
        default=60, ge=1, le=10_080, description="how long such a post blocks entries"
    )


class TextConfig(BaseModel):
    """Where the posts come from and how a post becomes a per-asset sentiment signal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    news: tuple[Path, ...] = Field(
        default=(), description="JSON-lines news files replayed with the market data"
    )
    timeframe: Timeframe = Field(
        default=Timeframe.H1,
        description="timeframe a text signal counts on (its outcome is measured on its closes)",
    )
    expires_minutes: int = Field(
        default=240, ge=1, le=10_080, description="a sentiment signal counts this long"
    )
    half_life_minutes: float = Field(
        default=60, gt=0, description="older posts of the asset weigh half per half-life"
    )
    min_abs_score: float = Field(
        default=0.15, ge=0, lt=1, description="weaker aggregate sentiment emits no signal"
    )
    max_confidence: float = Field(
        default=0.6, gt=0, le=1, description="cap on a text signal's confidence"
    )
    vote_weight: float = Field(
        default=0.3, ge=0, le=1, description="share of community votes in a post's score"
    )
    scorer: str = Field(
        default="vader",
        pattern=r"^(vader|llm)$",
        description="vader (local lexicon), or llm: the configured model, VADER as fallback",
    )
    open_needs_review: bool = Field(
        default=True,
        description="an OPEN decision counting a text signal goes to a person (REVIEW) instead",
    )
    news_filter: NewsFilterConfig = NewsFilterConfig()

    @field_validator("news")
    @classmethod
    def _files_exist(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        found = []
        for path in value:
            if not path.is_file() and (SHIPPED / path.name).is_file():
                path = SHIPPED / path.name  # a shipped file named from anywhere
            if not path.is_file():
                raise ValueError(f"news file {path} does not exist")
            found.append(path)
        return tuple(found)

    @field_validator("max_confidence")
    @classmethod
    def _cap_above_floor(cls, value: float, info: ValidationInfo) -> float:
        floor = info.data.get("min_abs_score")
        if floor is not None and value < floor:
            raise ValueError(f"max_confidence ({value}) must be at least min_abs_score ({floor})")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.news)

    def check_timeframes(self, built: tuple[Timeframe, ...]) -> None:
        """A text source needs the candles of its timeframe (its outcomes are measured there)."""
        if self.enabled and self.timeframe not in built:
            names = ", ".join(tf.value for tf in built)
            raise ValueError(
                f"text.timeframe {self.timeframe.value} is not among candles.timeframes ({names})"
            )
