"""Bytewax sink handing the flow's records to the notifier (derive, then a queue put).

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> import bytewax.operators as op
>>> from bytewax.dataflow import Dataflow
>>> from bytewax.testing import TestingSource, run_main
>>> from schemas.trading import Fill
>>> class Collect:  # stands in for Notifier: anything with submit()
...     def __init__(self): self.got = []
...     def submit(self, n): self.got.append(n.key)
>>> notifier = Collect()
>>> fill = Fill(fill_id="f1", order_id="o1", asset="BTC/USDT", side="buy",
...             quantity=Decimal("1"), price=Decimal("100"), fee=Decimal("0.1"),
...             ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> flow = Dataflow("notify_doc")
>>> op.output("notify", op.input("in", flow, TestingSource([fill, "candles etc."])),
...           NotifySink(notifier))
>>> run_main(flow)
>>> notifier.got
['fill:f1']
"""

from __future__ import annotations

from typing import Any, Protocol

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from operators.notify.derive import NotificationDeriver
from schemas.notifications import Notification


class _Submits(Protocol):
    def submit(self, notification: Notification) -> None: ...


class _NotifyPartition(StatelessSinkPartition[Any]):
    def __init__(self, notifier: _Submits, link_base: str | None) -> None:
        self._notifier = notifier
        self._deriver = NotificationDeriver(link_base)

    def write_batch(self, items: list[Any]) -> None:
        for item in items:
            notification = self._deriver.derive(item)
            if notification is not None:
                self._notifier.submit(notification)


class NotifySink(DynamicSink[Any]):
    """Derives notifications from records and submits them; the notifier sends them later."""

    def __init__(self, notifier: _Submits, link_base: str | None = None) -> None:
        self._notifier = notifier
        self._link_base = link_base

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _NotifyPartition:
        return _NotifyPartition(self._notifier, self._link_base)
