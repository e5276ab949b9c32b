"""The great-expectations suite over candles, run per (symbol, timeframe) series.

great-expectations takes seconds to import, so it is imported here lazily, when a suite is
built (``quorum data check``), never on the streaming path. The suite runs in an ephemeral
context on a pandas data frame prepared by :func:`operators.quality.profile.prepare_series`;
its derived columns make one suite serve every timeframe.

Checks (see :data:`CHECK_NAMES`): no missing time, price or volume; prices > 0; volume ≥ 0;
``high ≥ max(open, close)`` and ``low ≤ min(open, close)``; unique open times; open times on
timeframe boundaries; no missing bars between the first and the last (``bar_step == 1``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import polars as pl

from operators.candles.instruments import InstrumentsConfig
from operators.quality.profile import (
    PRICE_COLUMNS,
    VALUE_COLUMNS,
    prepare_series,
    profile_series,
    require_candle_columns,
)
from operators.quality.report import CheckOutcome, QualityReport, SeriesReport
from schemas.common import Timeframe

CHECK_NAMES: tuple[str, ...] = (
    *(f"not_null_{c}" for c in ("ts", *VALUE_COLUMNS)),
    *(f"positive_{c}" for c in PRICE_COLUMNS),
    "non_negative_volume",
    "high_covers_open_close",
    "low_covers_open_close",
    "unique_ts",
    "aligned_ts",
    "no_gaps",
)
"""Every check of the suite, in suite order; reports list outcomes under these names."""

_SUITE_COLUMNS = ("ts", *VALUE_COLUMNS, "max_oc", "min_oc", "ts_offset_ns", "bar_step")


def _import_gx() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def _expectations(gxe: Any) -> list[Any]:
    def check(name: str) -> dict[str, dict[str, str]]:
        return {"meta": {"check": name}}

    expectations: list[Any] = [
        gxe.ExpectColumnValuesToNotBeNull(column=c, **check(f"not_null_{c}"))
        for c in ("ts", *VALUE_COLUMNS)
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(
            column=c, min_value=0, strict_min=True, **check(f"positive_{c}")
        )
        for c in PRICE_COLUMNS
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(
            column="volume", min_value=0, **check("non_negative_volume")
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="high",
            column_B="max_oc",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            **check("high_covers_open_close"),
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="min_oc",
            column_B="low",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            **check("low_covers_open_close"),
        ),
        gxe.ExpectColumnValuesToBeUnique(column="ts", **check("unique_ts")),
        gxe.ExpectColumnValuesToBeInSet(
            column="ts_offset_ns", value_set=[0], **check("aligned_ts")
        ),
        gxe.ExpectColumnValuesToBeInSet(column="bar_step", value_set=[1], **check("no_gaps")),
    ]
    return expectations


class CandleSuite:
    """The candle expectations in an ephemeral great-expectations context, built once.

    >>> suite = CandleSuite()  # imports great-expectations: seconds
    >>> frame = pl.DataFrame({"ts": [0, 60_000_000_000], "open": 1.0, "high": 2.0, "low": 0.5,
    ...                       "close": [1.5, 2.5], "volume": 1.0})
    >>> outcomes = suite.validate(prepare_series(frame, Timeframe.M1))
    >>> [(o.name, o.unexpected) for o in outcomes if not o.success]
    [('high_covers_open_close', 1)]
    """

    def __init__(self) -> None:
        gx = _import_gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("quorum").add_dataframe_asset("candles")
        batch = asset.add_batch_definition_whole_dataframe("series")
        suite = context.suites.add(gx.ExpectationSuite(name="candles"))
        for expectation in _expectations(gx.expectations):
            suite.add_expectation(expectation)
        self._validation = context.validation_definitions.add(
            gx.ValidationDefinition(name="candles", data=batch, suite=suite)
        )

    def validate(self, prepared: pl.DataFrame) -> tuple[CheckOutcome, ...]:
        """Run the suite on one prepared series; outcomes in :data:`CHECK_NAMES` order."""
        frame = prepared.select(_SUITE_COLUMNS).to_pandas()
        result = self._validation.run(batch_parameters={"dataframe": frame}, result_format="BASIC")
        outcomes = {}
        for item in result.results:
            name = item.expectation_config.meta["check"]
            error = None
            if item.exception_info.get("raised_exception"):
                error = str(item.exception_info.get("exception_message"))
            outcomes[name] = CheckOutcome(
                name=name,
                success=bool(item.success) and error is None,
                unexpected=int(item.result.get("unexpected_count") or 0),
                error=error,
            )
        return tuple(outcomes[name] for name in CHECK_NAMES)


def _series(frame: pl.DataFrame) -> Iterable[tuple[str, str, pl.DataFrame]]:
    groups = frame.partition_by("symbol", "timeframe", as_dict=True, maintain_order=True)
    for (symbol, timeframe), group in sorted(groups.items(), key=lambda kv: kv[0]):
        yield str(symbol), str(timeframe), group.drop("symbol", "timeframe")


def check_candles(
    frame: pl.DataFrame,
    suite: CandleSuite | None = None,
    instruments: InstrumentsConfig | None = None,
) -> QualityReport:
    """Check every (symbol, timeframe) series of a candle frame (e.g. from ``read_candles``).

    With ``instruments`` a series' gaps are judged on its symbol's market calendar: bars
    missing while the market was closed are no gap.

    ``ts`` may be a datetime or int nanoseconds. An empty frame, a missing column or an unknown
    timeframe is a ``ValueError`` naming it.

    >>> minute = 60_000_000_000
    >>> frame = pl.DataFrame({"symbol": ["A/B"] * 3, "timeframe": "1m",
    ...                       "ts": [0, minute, 3 * minute], "open": 1.0, "high": 2.0,
    ...                       "low": 0.5, "close": 1.5, "volume": 1.0})
    >>> report = check_candles(frame)
    >>> report.success, report.get("A/B", "1m").failed_checks
    (False, ('no_gaps',))
    """
    require_candle_columns(frame)
    if frame.is_empty():
        raise ValueError("no candles to check: the frame is empty")
    series = []
    for symbol, name, group in _series(frame):
        try:
            timeframe = Timeframe.parse(name)
        except ValueError as exc:
            raise ValueError(f"series {symbol}: {exc}") from None
        suite = suite or CandleSuite()
        calendar = None if instruments is None else instruments.instrument_for(symbol)
        prepared = prepare_series(
            group, timeframe, None if calendar is None else calendar.market_calendar
        )
        series.append(
            SeriesReport(
                symbol=symbol,
                timeframe=timeframe.value,
                profile=profile_series(prepared, timeframe),
                checks=suite.validate(prepared),
            )
        )
    return QualityReport(tuple(series))
