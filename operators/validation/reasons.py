"""Reason codes of the validators' dead letters (``DeadLetter.reason``)."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a record was dead-lettered. A row gets the code of the first check it fails.

    >>> Reason.PRICE_OUTLIER == "price_outlier"
    True
    """

    # values
    NON_FINITE_PRICE = "non_finite_price"
    NON_FINITE_AMOUNT = "non_finite_amount"
    NON_FINITE_VALUE = "non_finite_value"
    NON_POSITIVE_PRICE = "non_positive_price"
    NON_POSITIVE_AMOUNT = "non_positive_amount"
    NEGATIVE_VOLUME = "negative_volume"
    PRICE_OUT_OF_RANGE = "price_out_of_range"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    INCONSISTENT_OHLC = "inconsistent_ohlc"
    # time
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    MISALIGNED_OPEN_TIME = "misaligned_open_time"
    DUPLICATE_OPEN_TIME = "duplicate_open_time"
    NON_INCREASING_OPEN_TIME = "non_increasing_open_time"
    # history
    DUPLICATE_TRADE_ID = "duplicate_trade_id"
    PRICE_OUTLIER = "price_outlier"
    DISPUTED_PRICE = "disputed_price"


FLAGGED = "flagged"
"""Prefix of the counts of rows kept with a quality flag (``flagged:price_outlier``)."""

ACCEPTED = "accepted"
"""Key under which the validators count the rows they let through."""
