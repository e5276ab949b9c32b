"""Bytewax source of venue reports: what the gateways heard, fed to the trading core as items.

The reports are live news: the partition keeps no cursor (a resumed flow learns what it missed
from the gateways' reconciliation, which reports every recent fill again; the router books each
venue trade id once).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

POLL = timedelta(milliseconds=20)


class ReportDrain(Protocol):
    def drain(self) -> list[Any]: ...


class _ReportPartition(StatefulSourcePartition[Any, None]):
    def __init__(self, gateways: list[ReportDrain], deadline: float | None) -> None:
        self._gateways = gateways
        self._deadline = deadline
        self._idle = False

    def next_batch(self) -> list[Any]:
        reports = [r for g in self._gateways for r in g.drain()]
        if not reports and self._deadline is not None and time.monotonic() >= self._deadline:
            raise StopIteration
        self._idle = not reports
        return reports

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + POLL if self._idle else None

    def snapshot(self) -> None:
        return None


class VenueReportSource(FixedPartitionedSource[Any, None]):
    """One partition draining every gateway; ends ``run_for`` seconds after the flow starts."""

    def __init__(self, gateways: list[ReportDrain], run_for: float | None = None) -> None:
        self.gateways = gateways
        self.run_for = run_for

    def list_parts(self) -> list[str]:
        return ["venue-reports"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ReportPartition:
        deadline = None if self.run_for is None else time.monotonic() + self.run_for
        return _ReportPartition(self.gateways, deadline)
