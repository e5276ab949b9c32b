"""The trading core's operational records live in :mod:`schemas.operations`; re-exported here."""

from schemas.operations import (
    ManualAction,
    ManualActionKind,
    ManualActionResult,
    ReviewStatus,
    ReviewTicket,
    TradingSummary,
)

__all__ = [
    "ManualAction",
    "ManualActionKind",
    "ManualActionResult",
    "ReviewStatus",
    "ReviewTicket",
    "TradingSummary",
]
