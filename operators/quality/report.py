"""The data-quality report: one row per candle series, with each expectation's outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from operators.quality.profile import SeriesProfile


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One expectation on one series: passed or not, and how many rows it flagged."""

    name: str
    success: bool
    unexpected: int = 0
    error: str | None = None
    """Set when the expectation could not be evaluated at all (counts as a failure)."""


@dataclass(frozen=True, slots=True)
class SeriesReport:
    """The checks and fault counts of one (symbol, timeframe) series.

    >>> from operators.quality.profile import SeriesProfile
    >>> clean = SeriesProfile(3, None, None, 0, 0, 0, 0, 0, None, 0, 0)
    >>> r = SeriesReport("A/B", "1m", clean, (CheckOutcome("unique_ts", True),
    ...                                       CheckOutcome("no_gaps", False, 2)))
    >>> r.success, r.checks_passed, r.failed_checks
    (False, 1, ('no_gaps',))
    """

    symbol: str
    timeframe: str
    profile: SeriesProfile
    checks: tuple[CheckOutcome, ...]

    @property
    def success(self) -> bool:
        return all(check.success for check in self.checks)

    @property
    def checks_passed(self) -> int:
        return sum(check.success for check in self.checks)

    @property
    def checks_failed(self) -> int:
        return len(self.checks) - self.checks_passed

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(check.name for check in self.checks if not check.success)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 strings."""
        profile = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in asdict(self.profile).items()
        }
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "success": self.success,
            "checks_passed": self.checks_passed,
            "checks_failed": self.checks_failed,
            "failed_checks": list(self.failed_checks),
            **profile,
            "checks": [asdict(check) for check in self.checks],
        }


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Every checked series; successful only if every series passed every check.

    >>> QualityReport(()).success
    True
    """

    series: tuple[SeriesReport, ...]

    @property
    def success(self) -> bool:
        return all(item.success for item in self.series)

    @property
    def failures(self) -> tuple[SeriesReport, ...]:
        return tuple(item for item in self.series if not item.success)

    def get(self, symbol: str, timeframe: str) -> SeriesReport:
        """The report of one series; ``KeyError`` naming it when it was not checked."""
        for item in self.series:
            if item.symbol == symbol and item.timeframe == timeframe:
                return item
        raise KeyError(f"no report for {symbol} {timeframe}")

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, "series": [item.to_dict() for item in self.series]}
