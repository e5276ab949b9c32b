"""The metering sink: fused signals in, one usage event per entitled customer out, once.

The roster (catalogue and subscriptions) is read from the store when a partition starts and
again every ``refresh_seconds`` (a live flow sees new customers). Writes are insert-or-ignore on
the deterministic ``usage_id``, so the outputs Bytewax replays after a crash are metered once.
A store without a stored catalogue or customers meters nothing.

>>> import tempfile
>>> from datetime import UTC, datetime
>>> import bytewax.operators as op
>>> from bytewax.dataflow import Dataflow
>>> from bytewax.testing import TestingSource, run_main
>>> from connectors.store.billing import read_usage, store_catalogue, upsert_subscription
>>> from connectors.store.engine import open_store
>>> from operators.billing.catalogue import load_catalogue
>>> from schemas.billing import Subscription
>>> from schemas.signals import Decision, FusedSignal
>>> url = f"sqlite:///{tempfile.mkdtemp()}/m.sqlite"
>>> engine = open_store(url)
>>> _ = store_catalogue(engine, load_catalogue())
>>> upsert_subscription(engine, Subscription(subscription_id="s", customer_id="cy",
...     plan_id="per_signal", status="active", started_at=datetime(2022, 1, 1, tzinfo=UTC)))
>>> sig = FusedSignal(fused_id="f1", asset="BTC-PERP", score=0.6, direction="long",
...     timestamp=datetime(2022, 1, 2, tzinfo=UTC), decision=Decision.OPEN)
>>> flow = Dataflow("meter")
>>> op.output("usage", op.input("in", flow, TestingSource([sig, sig])), MeteringSink(url))
>>> run_main(flow)
>>> [(u.customer_id, u.signal_id, u.price_minor) for u in read_usage(engine)]
[('cy', 'f1', 50)]
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.store.billing import load_stored_catalogue, read_subscriptions, write_usage
from connectors.store.engine import open_store
from operators.billing.metering import Roster, meter
from schemas.signals import FusedSignal

logger = logging.getLogger(__name__)


class _MeteringPartition(StatelessSinkPartition[Any]):
    def __init__(self, url: str, refresh_seconds: float) -> None:
        self._engine = open_store(url)
        self._refresh_seconds = refresh_seconds
        self._loaded_at = float("-inf")
        self._roster: Roster | None = None

    def _current_roster(self) -> Roster | None:
        now = time.monotonic()
        if now - self._loaded_at >= self._refresh_seconds:
            catalogue = load_stored_catalogue(self._engine)
            self._roster = (
                None if catalogue is None else Roster(catalogue, read_subscriptions(self._engine))
            )
            self._loaded_at = now
        return self._roster

    def write_batch(self, items: list[Any]) -> None:
        fused = [item for item in items if isinstance(item, FusedSignal)]
        if not fused:
            return
        roster = self._current_roster()
        if roster is None or not len(roster):
            return
        events = [event for signal in fused for event in meter(signal, roster)]
        written = write_usage(self._engine, events)
        logger.debug("metering: %d fused signals, %d usage events", len(fused), written)

    def close(self) -> None:
        self._engine.dispose()


class MeteringSink(DynamicSink[Any]):
    """Bytewax sink metering the :class:`~schemas.signals.FusedSignal` items it receives."""

    def __init__(self, url: str, *, refresh_seconds: float = 60.0) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _MeteringPartition:
        return _MeteringPartition(self.url, self.refresh_seconds)
